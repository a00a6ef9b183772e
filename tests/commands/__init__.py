"""Tests of commands: the parser, its grammar table, regions, cron and help."""
