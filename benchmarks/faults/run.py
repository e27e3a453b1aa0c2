"""What one harness run carries between its parts."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.faults.drivers import (
    Msg,
)
from benchmarks.faults.topology import Topology


@dataclass
class Run:
    args: argparse.Namespace
    topo: Topology
    base: str = ""
    admin: str = ""
    v1_key: str = ""
    widget_key: str = ""
    msgs: list[Msg] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    doc_names: list[str] = field(default_factory=list)
    upload_errors: list[str] = field(default_factory=list)
    done_convs: int = 0
    load_started: float = 0.0
    load_ended: float = 0.0
    deadline: float = 0.0
    notes: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    stack_dumps: int = 0


def log(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)
