"""Storage: every SQL statement of the bot (jobs, steps, locks, approvals, audit, schedules, capability
tables) and the one ordered list of migrations. Imports ``azureops.plan`` and ``commands`` only; no Slack."""
