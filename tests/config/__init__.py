"""Tests of bot.config: settings and the site config."""
