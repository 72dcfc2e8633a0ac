"""Where the harness keeps a boot's temporary files while it runs: in a
directory of its process's own, /tmp/kernel-harness-PID.

Each boot removes its files when it closes, but a harness killed by a
signal (SIGKILL, a CI job cancelled) closes nothing, and a boot's QEMU log
alone may have grown to 16 MiB. The next harness to start finds the
directories of processes that are gone and removes them: what a killed run
leaves stays bounded by one run's boots in flight.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "kernel-harness-"

_own: Path | None = None


def directory() -> Path:
    """This process's scratch directory, made at the first call, after the
    ones of processes that no longer run are removed."""
    global _own
    if _own is None:
        remove_abandoned()
        _own = Path(tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}"
        _own.mkdir(exist_ok=True)
        atexit.register(shutil.rmtree, _own, ignore_errors=True)
    return _own


def remove_abandoned() -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX)
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
