"""Command text as Slack delivers it -> clean tokens.

Slack (and phones) decorate what people type: smart quotes, non-breaking spaces, em dashes for
``--``, backticks from copied ``code``, HTML entities, ``<@U123>`` escapes. ``tokenize`` undoes the
harmless ones and rejects the escapes, which never name anything this bot knows.
"""

from __future__ import annotations

import re
import shlex
import unicodedata

from avdcore.errors import UsageError

MAX_LENGTH = 2000

_SLACK_ESCAPE = re.compile(r"<[^<>]*>")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f`]+")
_QUOTES = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2033": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    }
)  # fmt: skip
_DASHES = "\u2014\u2013\u2012\u2212"
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def clip(text: str, limit: int = 40) -> str:
    """``text`` on one line and at most ``limit`` characters, for quoting it back in a message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def clean(text: str) -> str:
    """Undo Slack's and phones' decoration; reject ``<...>`` escapes and over-long text."""
    if not isinstance(text, str):
        raise UsageError("the command text is not text", hint="type the command after /avd, e.g. /avd status")
    if len(text) > MAX_LENGTH:
        raise UsageError(
            f"the command is too long ({len(text)} characters)",
            hint=f"keep it under {MAX_LENGTH} characters; /avd help shows what each command takes.",
        )
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    escape = _SLACK_ESCAPE.search(text)
    if escape:
        raise UsageError(
            f"Slack mentions, channels and links are not accepted here ('{clip(escape.group(0))}')",
            hint="type plain names instead: a site, region, profile or scale set, e.g. /avd failover plan dr",
        )
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _SPACES.sub(" ", text.translate(_QUOTES)).strip()


def _dash(token: str) -> str:
    """``—dry-run`` (a phone's em dash for ``--``) -> ``--dry-run``."""
    if token[:1] in _DASHES:
        return "--" + token.lstrip(_DASHES + "-")
    return token


def tokenize(text: str) -> list[str]:
    """Split cleaned text into words; quotes group words and are dropped, unbalanced ones ignored."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    try:
        words = list(lexer)
    except ValueError:
        words = text.replace('"', " ").replace("'", " ").split()
    return [_dash(word.strip()) for word in words if word.strip()]
