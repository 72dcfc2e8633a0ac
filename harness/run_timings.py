"""Where a test run's wall time goes: builds, BIOS boots, UEFI boots and
the browser, printed at the end of the run (conftest.py) beside its five
slowest items, so that a slow suite says why.

Each process counts its own time: under pytest-xdist the workers write
theirs to a folder the controlling process named (in the environment,
which the workers inherit) and the controller adds them up. With several
workers the figures are summed over them and may exceed the run's wall time.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

CATEGORIES = ("build", "boot", "UEFI", "browser")
FOLDER_VARIABLE = "HARNESS_RUN_TIMINGS"

_spent: defaultdict[str, float] = defaultdict(float)


def record(category: str, seconds: float) -> None:
    _spent[category] += seconds


def start(folder: Path) -> None:
    """In the controlling process: where the workers write their figures."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    os.environ[FOLDER_VARIABLE] = str(folder)


def write(worker: str) -> None:
    """In a worker, as its session ends."""
    folder = os.environ.get(FOLDER_VARIABLE)
    if folder:
        (Path(folder) / f"{worker}.json").write_text(json.dumps(_spent))


def totals() -> dict[str, float]:
    """This process's figures and those its workers wrote."""
    summed = defaultdict(float, _spent)
    folder = os.environ.get(FOLDER_VARIABLE)
    for path in sorted(Path(folder).glob("*.json")) if folder else []:
        for category, seconds in json.loads(path.read_text()).items():
            summed[category] += seconds
    return {category: summed.get(category, 0.0) for category in CATEGORIES}
