"""The limits every boot stays within, and the watchdog that enforces them.

A student's kernel can do anything: spin forever, print without end, or
take the same exception again and again while QEMU logs each one (some
20 MB a second). Without limits one such kernel fills the disk and the
memory of the machine that grades it. Every boot therefore has five:

    wall time          WALL_CLOCK_ALLOWANCE x its timeout, plus a grace
    QEMU's CPU time    its timeout (seconds of CPU, so that a loaded machine
                       gives every boot the same amount of emulated work)
    serial output      SERIAL_LIMIT bytes
    interrupt log      INTERRUPT_LOG_LIMIT bytes of QEMU's -d int log
    artifacts          ARTIFACTS_LIMIT bytes under build/test-artifacts/

The waits of machine.py stop at the timeout with a diagnosis of what the
kernel was doing. The watchdog, a thread beside each boot, is the backstop
that does not depend on anybody waiting: when a boot passes a limit it
kills QEMU at once and records which limit it was, and the verdict names
it. A log is never read whole: its first and last LOG_KEEP bytes say what
there is to say (how it started, what it was doing at the end).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

WALL_CLOCK_ALLOWANCE = 3.0  # a guest that waits without using the CPU
WATCHDOG_GRACE = 2.0  # seconds past a wait's own limit, for its diagnosis to be made
SERIAL_LIMIT = 256 * 1024
INTERRUPT_LOG_LIMIT = 16 * 1024 * 1024
ARTIFACTS_LIMIT = 50 * 1024 * 1024
LOG_KEEP = 64 * 1024  # of a long log, this much of its start and of its end are kept

WATCHDOG_INTERVAL = 0.05  # seconds; QEMU logs about 1 MB in that time at worst


@dataclass(frozen=True)
class LimitReached:
    """Which limit stopped a boot, in words: `the interrupt log passed 16 MiB`."""
    name: str  # "wall time", "CPU time", "serial output", "interrupt log"
    description: str


def mebibytes(size: int) -> str:
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size / 2**10:g} KiB"


class Watchdog:
    """Checks a boot's CPU time, wall time and interrupt log every
    WATCHDOG_INTERVAL, from its own thread, and calls `kill` when one is
    past its limit. The serial output is counted by whoever reads it
    (Machine), which calls `reached` itself."""

    def __init__(self, *, timeout: float, cpu_seconds: Callable[[], float], wall_seconds: Callable[[], float],
                 interrupt_log: Path, kill: Callable[[], None]):
        self.limit_reached: LimitReached | None = None
        self._cpu_limit = timeout + WATCHDOG_GRACE
        self._wall_limit = timeout * WALL_CLOCK_ALLOWANCE + WATCHDOG_GRACE
        self._cpu_seconds = cpu_seconds
        self._wall_seconds = wall_seconds
        self._interrupt_log = interrupt_log
        self._kill = kill
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="boot watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopped.wait(WATCHDOG_INTERVAL):
            limit = self._limit_passed()
            if limit is not None:
                self.reached(limit)
                return

    def _limit_passed(self) -> LimitReached | None:
        if file_size(self._interrupt_log) > INTERRUPT_LOG_LIMIT:
            return LimitReached("interrupt log", f"QEMU's interrupt log passed {mebibytes(INTERRUPT_LOG_LIMIT)}")
        if self._cpu_seconds() > self._cpu_limit:
            return LimitReached("CPU time", f"QEMU used more than {self._cpu_limit:g} s of CPU time")
        if self._wall_seconds() > self._wall_limit:
            return LimitReached("wall time", f"the boot took more than {self._wall_limit:g} s of wall time")
        return None

    def reached(self, limit: LimitReached) -> None:
        """Kills QEMU for this limit (the first one reached is kept)."""
        if self.limit_reached is None:
            self.limit_reached = limit
        self._kill()
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_head_and_tail(path: Path, keep: int = LOG_KEEP) -> str:
    """A log as text: whole if it is at most 2 x `keep` bytes, else its
    first and last `keep` bytes with a line between them that says how
    much was left out. Never reads more than that into memory."""
    try:
        with path.open("rb") as log:
            size = os.fstat(log.fileno()).st_size
            if size <= 2 * keep:
                return log.read().decode(errors="replace")
            head = log.read(keep)
            log.seek(size - keep)
            tail = log.read(keep)
    except FileNotFoundError:
        return ""
    left_out = size - 2 * keep
    # Cut at line boundaries, so that no half line is parsed as a whole one.
    head = head[:head.rfind(b"\n") + 1]
    tail = tail[tail.find(b"\n") + 1:]
    return (head.decode(errors="replace")
            + f"[... {left_out} bytes of the log left out: its first and last {mebibytes(keep)} are kept ...]\n"
            + tail.decode(errors="replace"))


def read_tail(path: Path, size: int) -> str:
    """The last `size` bytes of a file, from its first whole line on."""
    try:
        with path.open("rb") as log:
            length = os.fstat(log.fileno()).st_size
            log.seek(max(0, length - size))
            tail = log.read(size)
            if length > size:
                tail = tail[tail.find(b"\n") + 1:]
    except FileNotFoundError:
        return ""
    return tail.decode(errors="replace")


def directory_size(directory: Path) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        total += sum(file_size(Path(root) / name) for name in files)
    return total
