"""Slack: the HTTP server, ack gate, request guard, listeners, actions, modals, rendering, cards, chart and
progress. The only users of ``slack_bolt``; imports ``bot.runtime``, ``bot.engine``, ``bot.storage``."""
