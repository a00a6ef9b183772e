"""/avd doctor asks for role-assignment rights on the DR host pool group only when post-steps need them."""

from __future__ import annotations

import tomllib
from pathlib import Path

from azureops import doctor
from bot.capabilities.doctor import groups
from bot.config.siteconfig import parse_site_config

EXAMPLE = Path(__file__).resolve().parents[2] / "avd.example.toml"
PRINCIPAL = "6c2d8f1e-0b1a-4c7e-9a55-3f0e8d2b7a10"


def purposes_of(raw: dict) -> dict[str, tuple[str, ...]]:
    config, problems = parse_site_config(raw)
    assert problems == []
    return {g.name: g.purposes for g in groups(config)}


def test_without_post_steps_no_role_assignment_rights_are_required() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "appaccess" not in purposes_of(raw)["AVDDR"]


def test_with_an_app_group_post_step_the_dr_pool_group_needs_role_assignment_rights() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["failover"]["post_steps"] = [{"kind": "assign_app_group", "principals": [PRINCIPAL]}]
    purposes = purposes_of(raw)
    assert "appaccess" in purposes["AVDDR"] and "appaccess" not in purposes["AVD"]
    needed = doctor.required(purposes["AVDDR"])
    assert needed["Microsoft.Authorization/roleAssignments/write"] == ["failover post-steps"]
