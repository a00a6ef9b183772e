"""Argument values: regions, sites, profiles, scale targets, image references, numbers, names.

Each function takes the words typed and either returns the normalised value or raises
``UsageError`` whose hint says what would have worked.
"""

from __future__ import annotations

import difflib
import re

from avdcore.errors import UsageError
from commands.regions import REGIONS, canonical_region, region_key, suggest_region
from commands.text import clip
from commands.vocab import Vocabulary

STORAGE_SKUS: tuple[str, ...] = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")

_MAX_REGION_WORDS = 4
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$")
_IMAGE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?$")
_VERSION = re.compile(r"^(\d{1,10})\.(\d{1,10})\.(\d{1,10})$")
_INT32_MAX = 2**31 - 1


def did_you_mean(word: str, choices: list[str], cutoff: float = 0.6) -> str | None:
    """The choice closest to ``word`` (compared case-insensitively), in its configured spelling."""
    folded = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=cutoff)
    return folded[close[0]] if close else None


def take_region(words: list[str]) -> tuple[str | None, list[str]]:
    """The region spelled by the longest run of leading words (``UK South``), and the words after it."""
    for size in range(min(len(words), _MAX_REGION_WORDS), 0, -1):
        region = canonical_region(" ".join(words[:size]), strict=False)
        if region:
            return region, words[size:]
    return None, words


def region(words: list[str], *, what: str = "REGION") -> tuple[str, list[str]]:
    """A region from the leading words; unknown ones get a did-you-mean."""
    if not words:
        raise UsageError(f"missing {what}", hint="name an Azure region, e.g. uksouth or 'UK South'.")
    found, rest = take_region(words)
    if found:
        return found, rest
    for size in range(min(len(words), _MAX_REGION_WORDS), 0, -1):
        typed = " ".join(words[:size])
        guess = suggest_region(typed)
        if guess:
            raise UsageError(f"unknown region '{clip(typed)}'", hint=f"did you mean {guess}?")
    return canonical_region(words[0]), words[1:]  # unknown: raises with the generic hint


def _site_list(vocab: Vocabulary) -> str:
    return ", ".join(f"{name} ({location})" for name, location in vocab.sites.items())


def site(words: list[str], vocab: Vocabulary) -> str:
    """A site named by its name or its location (any spelling) -> the configured site name."""
    typed = " ".join(words)
    if not vocab.sites:
        if len(words) > 1:
            return take_region(words)[0] or _one(words, "SITE")
        return _one(words, "SITE")
    for name in vocab.sites:
        if name.lower() == typed.lower():
            return name
    location, rest = take_region(words)
    if location and not rest:
        matches = [name for name, loc in vocab.sites.items() if loc == location]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UsageError(
                f"more than one site is in {location}: {', '.join(matches)}",
                hint="name the site instead of its location.",
            )
        raise UsageError(f"no site is in {location}", hint=f"The sites are {_site_list(vocab)}.")
    choices = list(vocab.sites) + sorted(set(vocab.sites.values()))
    guess = did_you_mean(typed, choices) or did_you_mean(region_key(typed), choices)
    if guess is None and suggest_region(typed) in vocab.sites.values():
        guess = suggest_region(typed)
    hint = f"did you mean {guess}? " if guess else ""
    raise UsageError(f"unknown site '{clip(typed)}'", hint=f"{hint}The sites are {_site_list(vocab)}.")


def profile(word: str, vocab: Vocabulary) -> str:
    """A snapshot profile name from the config (case-insensitive) in its configured spelling."""
    for name in vocab.profiles:
        if name.lower() == word.lower():
            return name
    if not vocab.profiles:
        raise UsageError(
            f"unknown snapshot profile '{clip(word)}': none is configured",
            hint="add a [snapshot_profiles.NAME] table to the config (see avd.example.toml).",
        )
    guess = did_you_mean(word, list(vocab.profiles))
    listed = ", ".join(vocab.profiles)
    hint = f"did you mean {guess}? " if guess else ""
    raise UsageError(f"unknown snapshot profile '{clip(word)}'", hint=f"{hint}Profiles: {listed}.")


def scale_target(words: list[str], vocab: Vocabulary) -> str:
    """A scale set or site (by name or location), in its configured spelling."""
    typed = " ".join(words)
    for name in (*vocab.scale_sets, *vocab.sites):
        if name.lower() == typed.lower():
            return name
    if not vocab.scale_sets and not vocab.sites:
        return _one(words, "SCALESET")
    location, rest = take_region(words)
    if location and not rest:
        return site(words, vocab)
    choices = [*vocab.scale_sets, *vocab.sites, *sorted(set(vocab.sites.values()))]
    guess = did_you_mean(typed, choices)
    hint = f"did you mean {guess}? " if guess else ""
    raise UsageError(
        f"unknown scale set or site '{clip(typed)}'",
        hint=f"{hint}Scale sets: {', '.join(vocab.scale_sets) or 'none'}; sites: {', '.join(vocab.sites) or 'none'}.",
    )


def image_ref(word: str) -> tuple[str | None, str | None]:
    """``IMAGE[/VERSION]`` or a bare ``VERSION`` -> (image, version); ``None`` means the config's default."""
    image, slash, version = word.partition("/")
    if not slash and _VERSION.match(word):
        return None, _version(word)
    if image.isdigit():
        raise UsageError(
            f"'{clip(image)}' is not an image definition name",
            hint="a count is written --count N; an image is IMAGE or IMAGE/VERSION, e.g. Win11MultiS/2026.0522.1719.",
        )
    if is_region(image) and not slash:
        raise UsageError(
            f"'{clip(image)}' is a region, not an image: one region at a time",
            hint="run the command once per region; an image is IMAGE or IMAGE/VERSION, e.g. Win11MultiS.",
        )
    if not _IMAGE.match(image):
        raise UsageError(
            f"'{clip(image)}' is not an image definition name",
            hint="write IMAGE or IMAGE/VERSION, e.g. Win11MultiS/2026.0522.1719 (letters, digits, . _ -).",
        )
    return image, _version(version) if slash else None


def _version(text: str) -> str:
    match = _VERSION.match(text)
    if not match or any(int(part) > _INT32_MAX for part in match.groups()):
        raise UsageError(
            f"'{clip(text)}' is not an image version",
            hint="a version is MAJOR.MINOR.PATCH in whole numbers, e.g. 2026.0522.1719.",
        )
    return text


def integer(word: str, what: str, low: int, high: int, hint: str = "") -> int:
    """A whole number in ``low..high`` (``#12`` is 12)."""
    hint = hint or f"use a number from {low} to {high}."
    digits = word.lstrip("#")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 12:
        raise UsageError(f"{what} must be a whole number, not '{clip(word)}'", hint=hint)
    number = int(digits)
    if not low <= number <= high:
        raise UsageError(f"{what} must be between {low} and {high}, not {number}", hint=hint)
    return number


def storage(word: str) -> str:
    """A replica storage SKU in Azure's spelling, from any case."""
    for sku in STORAGE_SKUS:
        if sku.lower() == word.lower().replace("-", "_"):
            return sku
    guess = did_you_mean(word, list(STORAGE_SKUS))
    hint = f"did you mean {guess}? " if guess else ""
    raise UsageError(f"unknown storage SKU '{clip(word)}'", hint=f"{hint}Choose {', '.join(STORAGE_SKUS)}.")


def resource_name(word: str, what: str) -> str:
    """An Azure resource name: 1-80 letters, digits, ``. _ -``; starts alphanumeric."""
    if not _NAME.match(word):
        raise UsageError(
            f"'{clip(word)}' is not a valid {what} name",
            hint="Azure names are 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return word


def _one(words: list[str], what: str) -> str:
    if len(words) != 1 or not _NAME.match(words[0]):
        raise UsageError(f"'{clip(' '.join(words))}' is not a valid {what}", hint="give one name, e.g. dr.")
    return words[0]


def is_region(word: str) -> bool:
    return region_key(word) in REGIONS
