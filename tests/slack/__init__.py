"""Tests of bot.slack: signing, the ack path, listeners, rendering, cards, authorization, Socket Mode."""
