"""Command text -> operation. Pure: no Slack, no Azure, standard library only.

    from commands import parse, Vocabulary, UsageError, ops
    op = parse("replicas add uksouth", Vocabulary(sites={"primary": "westeurope", "dr": "uksouth"}))
"""

from __future__ import annotations

from commands import ops
from commands.errors import UsageError
from commands.grammar import parse
from commands.vocab import Vocabulary

__all__ = ["UsageError", "Vocabulary", "ops", "parse"]
