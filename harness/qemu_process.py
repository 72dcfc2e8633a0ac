"""The QEMU process of one boot: started on a pty, read, measured, stopped.

QEMU runs as the leader of its own session (pexpect makes it so), with the
guest's serial port on the pty's other end and its own messages in a file,
so that they never mix with what the kernel printed. The Linux kernel sends
it SIGKILL when the harness dies, even by SIGKILL, which no finaliser
survives; every process not yet stopped is stopped when Python exits
(pytest's Ctrl-C handling runs atexit too).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import threading
import time
import weakref
from pathlib import Path

import pexpect

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1

READ_SIZE = 65536  # bytes taken from the pty at a time

_live_processes: weakref.WeakSet[QemuProcess] = weakref.WeakSet()


def _stop_live_processes() -> None:
    for process in list(_live_processes):
        process.stop()


atexit.register(_stop_live_processes)


def _prepare_child(stderr_path: str) -> None:
    """Runs in the child between fork and exec."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(stderr, 2)
    os.close(stderr)


class QemuProcess:
    def __init__(self, argv: list[str], stderr_path: Path):
        self.argv = argv
        self.stderr_path = stderr_path
        self.started = time.monotonic()
        self.exit_status: int | None = None  # once reaped; -N when killed by signal N
        self._ended: float | None = None  # when it was reaped
        self._cpu_seconds = 0.0
        # The watchdog (boot_limits.py) kills from its own thread while the
        # test's thread may be reading: one of them at a time.
        self._lock = threading.Lock()
        self._spawned = pexpect.spawn(argv[0], argv[1:], timeout=None, echo=False,
                                      preexec_fn=lambda: _prepare_child(str(stderr_path)))
        # pexpect pauses 0.1 s when closing, for processes that need a moment
        # to die; stop() has made sure QEMU is gone by then.
        self._spawned.ptyproc.delayafterclose = 0
        _live_processes.add(self)

    @property
    def pid(self) -> int:
        return self._spawned.pid

    def alive(self) -> bool:
        return self.exit_status is None and self._spawned.isalive()

    def read(self, wait: float) -> bytes | None:
        """What QEMU wrote to the pty, waiting up to `wait` seconds for the
        first byte: b"" if nothing came, None once QEMU has exited (and
        everything it wrote has been read)."""
        try:
            return self._spawned.read_nonblocking(READ_SIZE, timeout=wait)
        except pexpect.TIMEOUT:
            return b""
        except pexpect.EOF:
            self.reap()
            return None

    def reap(self) -> None:
        """Takes the exit status of a QEMU that has exited or is exiting."""
        deadline = time.monotonic() + 5.0
        while self._spawned.isalive() and time.monotonic() < deadline:
            time.sleep(0.002)
        self._ended = time.monotonic()
        if self._spawned.exitstatus is not None:
            self.exit_status = self._spawned.exitstatus
        else:
            self.exit_status = -(self._spawned.signalstatus or signal.SIGKILL)

    def _reaped(self) -> bool:
        """The process is gone for good, and its pid free to be reused by
        another: nothing may be read or signalled by that pid any more."""
        return self._spawned.ptyproc.terminated

    def cpu_seconds(self) -> float:
        """User and system time of QEMU so far (all its threads); after it
        exited, the last figure read."""
        if self._reaped():
            return self._cpu_seconds
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self._cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, ProcessLookupError):
            pass
        return self._cpu_seconds

    def wall_seconds(self) -> float:
        """Since QEMU started, until it exited if it has."""
        return (self._ended or time.monotonic()) - self.started

    def kill(self) -> None:
        """SIGKILL to QEMU's whole process group, at once: for a boot that
        passed a limit, whose QEMU must not write another byte."""
        with self._lock:
            if self._reaped():
                return
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Stops QEMU's process group (SIGTERM, then SIGKILL) and closes the
        pty. Safe to call twice."""
        _live_processes.discard(self)
        with self._lock:
            for stop_signal, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
                if not self._spawned.isalive():
                    break
                try:
                    os.killpg(self.pid, stop_signal)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + grace
                while self._spawned.isalive() and time.monotonic() < deadline:
                    time.sleep(0.005)
            self._spawned.close(force=True)
