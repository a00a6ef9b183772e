"""Five-field cron schedules (``minute hour day month weekday``), checked field by field.

``validate_cron`` returns the schedule in one canonical spelling (single spaces, lower case, macros
such as ``@daily`` expanded). ``trigger_fields`` turns it into keyword arguments for APScheduler 3's
``CronTrigger``, whose ``day_of_week`` counts from Monday: weekdays are passed as names so that cron's
``0`` (Sunday) keeps its meaning.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from avdcore.errors import UsageError
from commands.text import clip


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...]  # names[i] is the value low + i


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIELDS: tuple[_Field, ...] = (
    _Field("minute", 0, 59, ()),
    _Field("hour", 0, 23, ()),
    _Field("day", 1, 31, ()),
    _Field("month", 1, 12, _MONTHS),
    _Field("weekday", 0, 7, _DAYS),
)
MACROS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
HINT = "a schedule is 5 fields, minute hour day month weekday, e.g. 0 2 * * * (02:00 every day) or off."
_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")
_MAX_ITEMS = 60


def validate_cron(text: str) -> str:
    """The canonical spelling of a 5-field cron schedule; ``UsageError`` says which field is wrong."""
    spec = " ".join(text.lower().split())
    spec = MACROS.get(spec, spec)
    parts = spec.split(" ") if spec else []
    if len(parts) != len(FIELDS):
        raise UsageError(f"a schedule needs 5 fields, not {len(parts)} ('{clip(text)}')", hint=HINT)
    for part, field in zip(parts, FIELDS, strict=True):
        field_values(part, field)
    return spec


def field_values(part: str, field: _Field) -> set[int] | None:
    """The values a field selects (``None`` for ``*``); ``UsageError`` when it is malformed."""
    items = part.split(",")
    if len(items) > _MAX_ITEMS:
        raise UsageError(f"the {field.name} field lists too many values", hint=HINT)
    if part == "*":
        return None
    values: set[int] = set()
    for item in items:
        match = _ITEM.match(item)
        if not match:
            raise _bad(field, item, "use *, */N, N, A-B, A-B/N or a list of them")
        star, first, last, step = match.groups()
        if star:
            low, high = field.low, field.high
        else:
            low = _value(first, field)
            high = _value(last, field) if last else low
            if last is None and step is not None:
                raise _bad(field, item, "a step needs a range: A-B/N or */N")
        if low > high:
            raise _bad(field, item, f"a range goes from low to high, e.g. {field.low}-{field.high}")
        stride = int(step) if step is not None else 1
        if not 1 <= stride <= field.high:
            raise _bad(field, item, f"the step must be from 1 to {field.high}")
        values.update(range(low, high + 1, stride))
    return values


def trigger_fields(cron: str) -> dict[str, str]:
    """APScheduler 3 ``CronTrigger`` keyword arguments for a validated schedule."""
    minute, hour, day, month, weekday = validate_cron(cron).split(" ")
    days = field_values(weekday, FIELDS[4])
    day_of_week = "*" if days is None else ",".join(_DAYS[d] for d in sorted({d % 7 for d in days}))
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}


def _value(token: str, field: _Field) -> int:
    if token.isdigit() and len(token) <= 3:
        number = int(token)
    elif token in field.names:
        number = field.low + field.names.index(token)
    else:
        raise _bad(field, token, _range(field))
    if not field.low <= number <= field.high:
        raise _bad(field, token, _range(field))
    return number


def _range(field: _Field) -> str:
    names = (
        f" or {field.names[0]}-{field.names[-2 if field.name == 'weekday' else -1]}" if field.names else ""
    )
    return f"the {field.name} is {field.low}-{field.high}{names}"


def _bad(field: _Field, item: str, why: str) -> UsageError:
    return UsageError(f"bad {field.name} '{clip(item, 20)}' in the schedule", hint=f"{why}; {HINT}")
