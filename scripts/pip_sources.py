"""Print, one per line, the uv arguments that make `uv pip install` look where pip looks.

uv reads none of pip's configuration (pip.conf, PIP_* variables), so a machine whose pip
finds torch's CPU build in a local wheel directory or a mirror would send uv to PyPI alone.
This reads pip's effective settings (`pip config list`: the environment over the [install]
section over [global], as pip applies them) and translates the ones that choose packages.
Usage: PYTHON scripts/pip_sources.py   (PYTHON: an interpreter that has pip)
"""

from __future__ import annotations

import ast
import subprocess
import sys

# pip's precedence, lowest first: a later variant of an option replaces an earlier one
# (config files are listed in the order pip loads them, so a later file wins within one).
_VARIANTS = ("global", "install", ":env:")
# pip option -> uv flag; each whitespace-separated value becomes one flag.
_MULTI = {
    "find-links": "--find-links",
    "extra-index-url": "--extra-index-url",
    "constraint": "--constraints",
}


def effective(listing: str) -> dict[str, str]:
    """Map pip option names to the value pip uses, from `pip config list` output."""
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, sep, raw = line.partition("=")
        section, _, option = key.rpartition(".")
        if not sep or section not in _VARIANTS:
            continue
        rank = _VARIANTS.index(section)
        if option not in found or rank >= found[option][0]:
            found[option] = (rank, str(ast.literal_eval(raw)))
    return {option: value for option, (_, value) in found.items()}


def uv_args(settings: dict[str, str]) -> list[str]:
    args: list[str] = []
    if settings.get("index-url"):
        args += ["--index-url", settings["index-url"]]
    for option, flag in _MULTI.items():
        for value in settings.get(option, "").split():
            args += [flag, value]
    if settings.get("cert"):
        args += ["--cert", settings["cert"]]
    if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    # pip takes the best version across all its indexes; uv's default stops at the first
    # index that has the name, which would miss a +cpu torch found only in find-links.
    args += ["--index-strategy", "unsafe-best-match"]
    return args


def main() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    print("\n".join(uv_args(effective(listing))))


if __name__ == "__main__":
    main()
