"""Tests of bot.engine: approvals, the runner under crashes and bursts, schedules."""
