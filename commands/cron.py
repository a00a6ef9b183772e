"""Five-field cron schedules (``minute hour day month weekday``), checked field by field.

``validate_cron`` returns the schedule in one canonical spelling (single spaces, lower case, macros
such as ``@daily`` expanded). ``trigger_fields`` turns it into keyword arguments for APScheduler 3's
``CronTrigger``, whose ``day_of_week`` counts from Monday: weekdays are passed as names so that cron's
``0`` (Sunday) keeps its meaning.

A schedule may not run more often than every ``MIN_INTERVAL_MINUTES`` (15): a snapshot sync lists and
copies snapshots across subscriptions, takes minutes, and shares ARM's request budget with failovers, so
``* * * * *`` would queue runs behind each other and throttle everything else. The gap is measured between
the times of one day and across midnight (as if every day matched), so a few schedules that would only be
that close on days they skip are refused too.
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
MIN_INTERVAL_MINUTES = 15
_DAY_MINUTES = 24 * 60


def validate_cron(text: str, *, min_minutes: int = MIN_INTERVAL_MINUTES) -> str:
    """The canonical spelling of a 5-field cron schedule; ``UsageError`` says which field is wrong, or that
    it runs more often than every ``min_minutes``."""
    spec = " ".join(text.lower().split())
    spec = MACROS.get(spec, spec)
    parts = spec.split(" ") if spec else []
    if len(parts) != len(FIELDS):
        raise UsageError(f"a schedule needs 5 fields, not {len(parts)} ('{clip(text)}')", hint=HINT)
    for part, field in zip(parts, FIELDS, strict=True):
        field_values(part, field)
    gap = shortest_gap(spec)
    if gap < min_minutes:
        every = "every minute" if gap == 1 else f"{gap} minutes apart"
        raise UsageError(
            f"the schedule '{clip(text)}' runs {every}; the most often a schedule may run is every "
            f"{min_minutes} minutes",
            hint=f"e.g. */{min_minutes} * * * * or 0 * * * * (hourly); {HINT}",
        )
    return spec


def shortest_gap(spec: str) -> int:
    """The fewest minutes between two runs of a valid schedule, within a day or across midnight."""
    minute, hour = spec.split(" ")[:2]
    minutes = field_values(minute, FIELDS[0])
    hours = field_values(hour, FIELDS[1])
    times = sorted(
        h * 60 + m
        for h in (range(24) if hours is None else hours)
        for m in (range(60) if minutes is None else minutes)
    )
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    gaps.append(times[0] + _DAY_MINUTES - times[-1])
    return min(gaps)


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
    """APScheduler 3 ``CronTrigger`` keyword arguments for a validated schedule (not checked against the
    minimum interval again: a row stored before the minimum existed still loads)."""
    minute, hour, day, month, weekday = validate_cron(cron, min_minutes=0).split(" ")
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
