"""Command text -> operation. Pure: no Slack, no Azure; the standard library and ``avdcore`` only.

from commands import parse, Vocabulary, UsageError, ops
op = parse("replicas add uksouth", Vocabulary(sites={"primary": "westeurope", "dr": "uksouth"}))
"""

from __future__ import annotations

from avdcore.errors import UsageError
from commands import ops
from commands.grammar import parse
from commands.vocab import Vocabulary

__all__ = ["UsageError", "Vocabulary", "ops", "parse"]
