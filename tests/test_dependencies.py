"""Dependencies (issue 14): everything the product installs is pinned with hashes in requirements.lock, which the
bootstrap installs from (the project itself with --no-deps), and pyproject's license is an SPDX string."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = REPO / "requirements.lock"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
    assert match is not None, spec
    return canonical(match.group(0))


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from the lock file."""
    text = LOCK.read_text(encoding="utf-8")
    out: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", block)
        if head:
            out[canonical(head.group(1))] = (head.group(2), block.count("--hash=sha256:"))
    return out


def test_every_dependency_is_pinned_with_hashes() -> None:
    pins = locked()
    wanted = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["dev"]]
    wanted += PYPROJECT["build-system"]["requires"]
    missing = [spec for spec in wanted if requirement_name(spec) not in pins]
    assert missing == [], f"not in requirements.lock: {missing}: run `make lock`"
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_bootstrap_installs_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    stamp = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r $(LOCK)" in stamp
    assert "--no-deps" in stamp and "-e ." in stamp
    assert "'.[dev]'" not in stamp and "--upgrade" not in stamp
    assert "\nlock:" in makefile and "--generate-hashes" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_license_is_an_spdx_string() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
