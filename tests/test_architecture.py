"""The import rules of docs/architecture.md, checked on the source (every import, type-checking ones too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("avdcore", "commands", "azureops", "bot", "sim")
ENTRY_POINTS = {"bot.cli", "bot.sandbox", "bot.snapshot_cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).exists() else []:
            found[module_name(path)] = path
    return found


MODULES = modules()


def imports(name: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in ``name``; ``from x import y`` names the
    module ``x.y`` when that is one of ours, else ``x``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    type_checking = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(n) for n in node.body)
    for node in ast.walk(tree):
        level = id(node) in top or id(node) in type_checking
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, level
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno, level


def ours(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _line, _level in imports(name):
            mod = ours(target)
            if mod is not None and mod != name:
                graph[name].add(mod)
    return graph


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(rule: str) -> list[str]:
    out = []
    for name in MODULES:
        for target, line, _level in imports(name):
            if RULES[rule](name, target):
                out.append(f"{name}:{line} imports {target}")
    return out


RULES = {
    "commands imports only avdcore of ours": lambda m, t: (
        in_package(m, "commands") and any(in_package(t, p) for p in ("azureops", "bot", "sim"))
    ),
    "azureops imports only commands and avdcore of ours, never slack": lambda m, t: (
        in_package(m, "azureops") and (in_package(t, "bot") or in_package(t, "sim") or t.startswith("slack"))
    ),
    "avdcore imports nothing of ours": lambda m, t: (
        in_package(m, "avdcore") and any(in_package(t, p) for p in PACKAGES if p != "avdcore")
    ),
    "sim imports none of bot, commands, azureops": lambda m, t: (
        in_package(m, "sim") and any(in_package(t, p) for p in ("bot", "commands", "azureops"))
    ),
    "bot never imports the Azure SDK": lambda m, t: (
        in_package(m, "bot") and t.startswith(("azure.core", "azure.mgmt"))
    ),
    "only bot.slack (and the entry points) import slack_bolt": lambda m, t: (
        in_package(m, "bot")
        and t.startswith("slack_bolt")
        and not in_package(m, "bot.slack")
        and m not in ENTRY_POINTS | {"bot.app", "bot.runtime"}
    ),
    "only the entry points import the composition root": lambda m, t: (
        t == "bot.app" and m not in ENTRY_POINTS
    ),
    "the engine and storage know nothing of Slack": lambda m, t: (
        (in_package(m, "bot.engine") or in_package(m, "bot.storage") or in_package(m, "bot.config"))
        and (t.startswith("slack") or in_package(t, "bot.slack"))
    ),
    "capabilities do not import the Bolt app or each other's privates": lambda m, t: (
        in_package(m, "bot.capabilities") and (t.startswith("slack_bolt") or t == "bot.app")
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_import_rule(rule: str) -> None:
    assert violations(rule) == []


def test_bot_runtime_imports_only_pure_modules_of_bot_at_run_time() -> None:
    runtime_imports = {
        ours(t) for t, _line, level in imports("bot.runtime") if level and in_package(t, "bot")
    }
    tree = ast.parse(MODULES["bot.runtime"].read_text(encoding="utf-8"))
    checked = {
        ours(f"{n.module}")
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("bot") and n.col_offset == 0
    }
    assert checked <= {"bot.reads", "bot.slack.render"}, checked
    assert runtime_imports >= checked


def test_no_import_circle_even_of_type_annotations() -> None:
    graph = edges()
    seen: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                circles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name)
    # a package's __init__ importing its own modules is not a circle of design
    real = [c for c in circles if not all(in_package(n, c[0]) or in_package(c[0], n) for n in c)]
    assert real == []


def test_no_plug_in_wiring_by_module_name_in_the_product() -> None:
    wiring = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        for needle in ("import_module(", "find_spec(", "AVD_CAPABILITIES", "pkgutil"):
            if needle in text and not in_package(name, "sim"):
                wiring.append(f"{name}: {needle}")
    assert wiring == []


def test_nothing_outside_a_module_uses_its_private_names() -> None:
    used = []
    for name in MODULES:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        used.append(f"{name} imports {node.module}.{alias.name}")
                    full = f"{node.module}.{alias.name}"
                    if full in MODULES:
                        aliases[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                used.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert used == []
