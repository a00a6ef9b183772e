"""The names a command may refer to, taken from the site config by the bot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from commands.regions import canonical_region


@dataclass(frozen=True)
class Vocabulary:
    """Configured names: ``sites`` maps a site name to its location; profiles and scale sets by name.

    Locations may be given in any region spelling (``"UK South"``); they are stored canonical.
    """

    sites: Mapping[str, str] = field(default_factory=dict, hash=False)
    profiles: tuple[str, ...] = ()
    scale_sets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        sites = {
            str(name): canonical_region(str(location), strict=False) or str(location).lower()
            for name, location in dict(self.sites).items()
        }
        object.__setattr__(self, "sites", sites)
        object.__setattr__(self, "profiles", _names(self.profiles))
        object.__setattr__(self, "scale_sets", _names(self.scale_sets))


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(str(value) for value in values)
