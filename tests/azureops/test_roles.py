"""The least-privilege roles in deploy/roles: the right to write role assignments is constrained by condition."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from azureops.assignments import DESKTOP_USER
from azureops.staging import BLOB_DATA_CONTRIBUTOR

ROLES = Path(__file__).resolve().parents[2] / "deploy" / "roles"


@pytest.mark.parametrize(
    ("name", "role_id"), [("avd-ops-app-access", DESKTOP_USER), ("avd-ops-snapshots", BLOB_DATA_CONTRIBUTOR)]
)
def test_role_assignment_rights_come_with_a_condition_that_names_only_the_role_the_bot_assigns(
    name: str, role_id: str
) -> None:
    role = json.loads((ROLES / f"{name}.json").read_text(encoding="utf-8"))
    granted = {a.lower() for a in role["Actions"]}
    assert {
        "microsoft.authorization/roleassignments/write",
        "microsoft.authorization/roleassignments/delete",
    } <= granted
    condition = (ROLES / f"{name}.condition").read_text(encoding="utf-8")
    # one clause per action (the attribute source differs: @Request for write, @Resource for delete)
    for action, source in (("write", "@Request"), ("delete", "@Resource")):
        clause = re.search(
            r"!\(ActionMatches\{'Microsoft\.Authorization/roleAssignments/"
            + action
            + r"'\}\)\s*\)\s*OR\s*\(\s*"
            + re.escape(source)
            + r"\[Microsoft\.Authorization/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([^}]*)\}",
            condition,
        )
        assert clause is not None, f"no clause constrains roleAssignments/{action}"
        assert [g.strip().lower() for g in clause.group(1).split(",")] == [role_id]
    assert condition.count("(") == condition.count(")")


def test_every_role_file_is_assignable_only_where_it_is_meant_to_be() -> None:
    for path in ROLES.glob("*.json"):
        role = json.loads(path.read_text(encoding="utf-8"))
        assert role["IsCustom"] is True and role["AssignableScopes"], path.name
        assert not any(a == "*" or a.endswith("/*") and a.count("/") < 2 for a in role["Actions"]), path.name


def test_every_role_that_writes_role_assignments_has_a_condition_file() -> None:
    for path in ROLES.glob("*.json"):
        actions = {a.lower() for a in json.loads(path.read_text(encoding="utf-8"))["Actions"]}
        if "microsoft.authorization/roleassignments/write" in actions:
            assert path.with_suffix(".condition").exists(), path.name
