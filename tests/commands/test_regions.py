"""Azure regions: canonical names, display names, any spelling, did-you-mean."""

from __future__ import annotations

import pytest

from commands import UsageError
from commands.regions import REGIONS, canonical_region, display_name, suggest_region

NAMED_IN_BRIEF = tuple(
    """eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus
canadacentral canadaeast brazilsouth brazilsoutheast mexicocentral chilecentral northeurope westeurope uksouth
ukwest francecentral francesouth germanywestcentral germanynorth switzerlandnorth switzerlandwest norwayeast
norwaywest swedencentral swedensouth polandcentral italynorth spaincentral austriaeast belgiumcentral denmarkeast
eastasia southeastasia japaneast japanwest koreacentral koreasouth australiaeast australiasoutheast
australiacentral australiacentral2 centralindia southindia westindia jioindiawest jioindiacentral uaenorth
uaecentral southafricanorth southafricawest qatarcentral israelcentral newzealandnorth indonesiacentral
malaysiawest taiwannorth""".split()  # noqa: SIM905
)


def test_every_region_the_brief_names_is_known() -> None:
    assert set(NAMED_IN_BRIEF) <= set(REGIONS)
    assert len(REGIONS) >= 60


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_each_region_round_trips(name: str) -> None:
    display = REGIONS[name]
    assert name == name.lower() and name.isalnum()
    assert canonical_region(name) == name
    assert canonical_region(display) == name
    assert canonical_region(display.upper()) == name
    assert canonical_region(display.replace(" ", "")) == name
    assert canonical_region(display.replace(" ", "-")) == name
    assert canonical_region(display.replace(" ", "_").lower()) == name
    assert display_name(name) == display


@pytest.mark.parametrize(
    "spelling",
    ["uksouth", "UK South", "UKSouth", "uk-south", "UK_SOUTH", " uk  south ", "Uk\u00a0South", "uk\tsouth"],
)
def test_spellings_of_uk_south(spelling: str) -> None:
    assert canonical_region(spelling) == "uksouth"


@pytest.mark.parametrize(
    ("typed", "guess"),
    [
        ("uksuoth", "uksouth"),
        ("uk sout", "uksouth"),
        ("westeurop", "westeurope"),
        ("West Erope", "westeurope"),
        ("eastus4", "eastus"),
        ("norhteurope", "northeurope"),
        ("australiacentral3", "australiacentral"),
    ],
)
def test_did_you_mean(typed: str, guess: str) -> None:
    with pytest.raises(UsageError) as caught:
        canonical_region(typed)
    assert caught.value.message == f"unknown region '{typed}'"
    assert caught.value.hint.startswith(f"did you mean {guess}")
    assert suggest_region(typed) == guess


def test_the_brief_example() -> None:
    with pytest.raises(UsageError) as caught:
        canonical_region("uksuoth")
    assert (caught.value.message, caught.value.hint) == ("unknown region 'uksuoth'", "did you mean uksouth?")
    assert str(caught.value) == "unknown region 'uksuoth'\ndid you mean uksouth?"


@pytest.mark.parametrize("typed", ["nowhere", "", "   ", "europe", "global", "eastus2euap", "x" * 500])
def test_unknown_without_guess(typed: str) -> None:
    assert canonical_region(typed, strict=False) is None
    with pytest.raises(UsageError) as caught:
        canonical_region(typed)
    assert caught.value.hint
    assert len(caught.value.message) < 80


@pytest.mark.parametrize("value", [None, 42, b"uksouth"])
def test_non_text_is_a_usage_error(value: object) -> None:
    assert canonical_region(value, strict=False) is None  # type: ignore[call-overload]
    with pytest.raises(UsageError):
        canonical_region(value)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("typed", "shown"), [("UK South", "UK South"), ("westus2", "West US 2"), ("mars", "mars")]
)
def test_display_name(typed: str, shown: str) -> None:
    assert display_name(typed) == shown
