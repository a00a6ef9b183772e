"""docs/simulator.md's rule table cites real tests: every test it names (``tests/x.py::test_y``, ``::test_y`` after
a path in the same cell, or a bare ``test_y``) is defined in the test suite, and every row says, for the simulator
and for the product, which test shows the rule or that none does yet ("no test", "not simulated", ...)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "simulator.md"
MARKERS = (
    "no test",
    "not simulated",
    "not modelled",
    "not enforced",
    "n/a",
    "see that section",
    "unverified",
)
TEST = re.compile(r"\btest_\w+")
CITE = re.compile(r"(tests/[\w/]+\.py)?::(test_\w+)")


def cells(line: str) -> list[str]:
    """The cells of a Markdown table row; a ``|`` inside backticks is text."""
    out, cell, code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cell.strip())
            cell = ""
        else:
            cell += ch
    out.append(cell.strip())
    return out


def rule_rows() -> list[tuple[str, list[str]]]:
    """(section heading, cells) of every data row of the tables under the ``## Rules`` headings."""
    rows: list[tuple[str, list[str]]] = []
    inside, heading, rule_table = False, "", False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.startswith("## Rules")
        if line.startswith(("## ", "### ")):
            heading = line
        if not line.startswith("|"):
            rule_table = False  # a table ends at its first other line; only tables headed "rule" count
            continue
        if inside and not re.match(r"^\|[-| ]+\|$", line):
            row = cells(line)
            if row[0] == "rule":
                rule_table = True
            elif rule_table:
                rows.append((heading, row))
    return rows


def defined_tests() -> dict[str, set[str]]:
    """Test function names per test file (relative path)."""
    found: dict[str, set[str]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        names = set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
        found[path.relative_to(REPO).as_posix()] = names
    return found


def test_the_table_has_rows_for_every_area() -> None:
    headings = {h for h, _ in rule_rows()}
    for area in (
        "Gallery",
        "VMSS",
        "identities",
        "Virtual Desktop",
        "Snapshots",
        "Locks",
        "Role",
        "Site Recovery",
    ):
        assert any(area in h for h in headings), area
    assert all(len(row) == 4 for _, row in rule_rows()), [row for _, row in rule_rows() if len(row) != 4]


@pytest.mark.parametrize("column", [2, 3], ids=["simulator", "product"])
def test_every_cited_test_exists_and_every_row_says_whether_it_is_tested(column: int) -> None:
    tests = defined_tests()
    everywhere = set().union(*tests.values())
    missing: list[str] = []
    silent: list[str] = []
    for heading, row in rule_rows():
        cell = row[column]
        if row[0].startswith("not simulated") or cell in ("-", ""):
            continue
        path = None
        for match in CITE.finditer(cell):
            path = match.group(1) or path
            if path is not None and match.group(2) not in tests.get(path, set()):
                missing.append(f"{path}::{match.group(2)}")
        for name in TEST.findall(re.sub(r"tests/[\w/]+\.py", "", cell)):
            if name not in everywhere:
                missing.append(name)
        for cited in re.findall(r"tests/[\w/]+\.py", cell):
            if cited not in tests:
                missing.append(cited)
        if not TEST.search(cell) and not any(m in cell.lower() for m in MARKERS):
            silent.append(f"{heading}: {row[0][:60]}")
    assert missing == []
    assert silent == []


GROUPS = (
    "galleries|gallery_images|gallery_image_versions|virtual_machine_scale_sets|virtual_machine_scale_set_vms|"
    "virtual_machines|resource_skus|snapshots|user_assigned_identities|federated_identity_credentials|host_pools|"
    "session_hosts|user_sessions|application_groups|scaling_plans|management_locks|resource_groups|resources|"
    "replication_recovery_plans|replication_protected_items|replication_jobs"
)


def test_the_operations_list_names_every_sdk_call_of_azureops() -> None:
    """Every ``<operation group>.<method>(`` call in azureops/*.py is named in the table's operations list."""
    text = DOC.read_text(encoding="utf-8")
    listed = text[text.index("**Operations `azureops` performs**") : text.index("Columns: the rule")]
    calls = set()
    for path in (REPO / "azureops").glob("*.py"):
        calls |= set(re.findall(rf"\.({GROUPS})\.(\w+)\(", path.read_text(encoding="utf-8")))
    assert len(calls) > 30
    missing = {
        f"{g}.{m}" for g, m in calls if g not in listed or f"`{m}`" not in listed and f".{m}`" not in listed
    }
    assert missing == set()
