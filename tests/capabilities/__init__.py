"""Tests of bot.capabilities: each capability over signed HTTP against the doubles."""
