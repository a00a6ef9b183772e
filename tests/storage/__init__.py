"""Tests of bot.storage: the store, migrations and the audit chain."""
