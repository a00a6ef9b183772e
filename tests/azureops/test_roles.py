"""The least-privilege roles in deploy/roles: the right to write role assignments is constrained by condition."""

from __future__ import annotations

import json
import re
from pathlib import Path

from azureops.assignments import DESKTOP_USER

ROLES = Path(__file__).resolve().parents[2] / "deploy" / "roles"


def test_role_assignment_rights_come_with_a_condition_that_names_only_the_post_step_role() -> None:
    role = json.loads((ROLES / "avd-ops-app-access.json").read_text(encoding="utf-8"))
    granted = {a.lower() for a in role["Actions"]}
    assert {
        "microsoft.authorization/roleassignments/write",
        "microsoft.authorization/roleassignments/delete",
    } <= granted
    condition = (ROLES / "avd-ops-app-access.condition").read_text(encoding="utf-8")
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
        assert [g.strip().lower() for g in clause.group(1).split(",")] == [DESKTOP_USER]
    assert condition.count("(") == condition.count(")")


def test_every_role_file_is_assignable_only_where_it_is_meant_to_be() -> None:
    for path in ROLES.glob("*.json"):
        role = json.loads(path.read_text(encoding="utf-8"))
        assert role["IsCustom"] is True and role["AssignableScopes"], path.name
        assert not any(a == "*" or a.endswith("/*") and a.count("/") < 2 for a in role["Actions"]), path.name
