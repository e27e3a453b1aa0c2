"""The lock files are what gets installed, and they match pyproject.toml and this environment.

When a dependency is added to pyproject.toml without re-locking, these fail and say to run
``bash scripts/lock.sh``.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RELOCK = "pyproject.toml changed without re-locking: run `bash scripts/lock.sh`"


def _pins(lock: str) -> dict[str, tuple[str, str | None]]:
    """name → (version, marker) of every ``name==version`` line."""
    pins = {}
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        spec, _, marker = line.partition(";")
        name, _, version = spec.strip().partition("==")
        assert version, f"{lock}: {line!r} is not pinned"
        pins[canonicalize_name(name)] = (version.strip(), marker.strip() or None)
    return pins


def _direct(*extras: str) -> set[str]:
    reqs = list(PYPROJECT["dependencies"])
    for extra in extras:
        reqs += PYPROJECT["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("requirements.lock", ()),
        ("requirements-st.lock", ("st",)),
        ("requirements-test.lock", ("st", "test")),
    ],
)
def test_every_dependency_is_pinned(lock: str, extras: tuple[str, ...]) -> None:
    missing = _direct(*extras) - set(_pins(lock))
    assert not missing, f"{lock} lacks {sorted(missing)}: {RELOCK}"


def test_the_locks_agree_and_torch_is_the_cpu_build() -> None:
    test, st, runtime = (
        _pins(f) for f in ("requirements-test.lock", "requirements-st.lock", "requirements.lock")
    )
    for name, (version, _) in [*st.items(), *runtime.items()]:
        if name in test:
            assert test[name][0] == version, f"{name}: {version} vs {test[name][0]}: {RELOCK}"
    for pins in (test, st):
        assert pins["torch"][0].endswith("+cpu")
        assert not [n for n in pins if n.startswith("nvidia-") or "cuda" in n], "a CUDA build"
    assert "torch" not in runtime  # the quick start's default embedder needs none


def test_this_environment_is_the_test_lock() -> None:
    wrong = []
    for name, (version, marker) in _pins("requirements-test.lock").items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong.append(f"{name} {installed} (locked {version})")
    assert not wrong, "installed versions differ from requirements-test.lock: " + ", ".join(wrong)


@pytest.mark.parametrize(
    ("script", "lock"),
    [
        ("scripts/quickstart.sh", "requirements.lock"),
        ("scripts/test.sh", "requirements-test.lock"),
        ("Dockerfile", "requirements-st.lock"),
    ],
)
def test_every_install_reads_its_lock(script: str, lock: str) -> None:
    text = (ROOT / script).read_text(encoding="utf-8")
    # pkg_install (scripts/pkg-install.sh) is `pip install` done by uv, with pip as fallback.
    install = r"(?:pip install|pkg_install \S+)"
    assert re.search(rf"{install} [^\n]*-r {re.escape(lock)}", text), f"{script} skips {lock}"
    # kefu itself without its dependencies: they came from the lock.
    assert re.search(rf"{install} [^\n]*--no-deps -e \.", text), script
