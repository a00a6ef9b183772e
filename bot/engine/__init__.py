"""The job engine: runner, approvals, schedules and the capability registry. Imports ``bot.runtime``,
``bot.storage``, ``bot.config``, ``azureops`` and ``commands``; never ``slack_bolt``."""
