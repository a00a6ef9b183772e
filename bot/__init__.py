"""The Slack-facing product: ``runtime`` (contracts), ``app`` (composition root), ``config``, ``storage``,
``engine``, ``slack``, ``capabilities`` and the entry points ``cli``, ``sandbox``, ``snapshot_cli``."""
