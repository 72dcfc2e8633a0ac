"""The QEMU process of one boot: started on a pipe, read, measured, stopped.

QEMU runs as the leader of its own session, with the guest's serial port on
a pipe and its own messages in a file, so that they never mix with what the
kernel printed. A pipe passes the kernel's bytes on as they were sent,
where a pty adds a "\\r" before each "\\n", and it takes QEMU's write() of
each byte at less cost: chapter 5's exception_tests, with 26 KB of
reports, came to its verdict in 0.54 s through a pty, 0.48 s through a
pipe. A pipe ends only once QEMU, and any child that inherited it, has
closed it: the last byte is read before the end. The Linux kernel sends
QEMU SIGKILL when the harness dies, even by SIGKILL, which no finaliser
survives; every process not yet stopped is stopped when Python exits
(pytest's Ctrl-C handling runs atexit too).
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import os
import select
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1

READ_SIZE = 65536  # bytes taken from the pipe at a time

_live_processes: weakref.WeakSet[QemuProcess] = weakref.WeakSet()


def _stop_live_processes() -> None:
    for process in list(_live_processes):
        process.stop()


atexit.register(_stop_live_processes)


def _die_with_the_harness() -> None:
    """Runs in the child between fork and exec."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class QemuProcess:
    """serial_buffer: the bytes the pipe holds for a reader that pauses,
    Linux's 64 KiB unless given (at least 4096, one page)."""

    def __init__(self, argv: list[str], stderr_path: Path, serial_buffer: int | None = None):
        self.argv = argv
        self.stderr_path = stderr_path
        self.started = time.monotonic()
        self.exit_status: int | None = None  # once reaped; -N when killed by signal N
        self._ended: float | None = None  # when it was reaped
        self._cpu_seconds = 0.0
        # The watchdog (boot_limits.py) kills from its own thread while the
        # test's thread may be reading: one of them at a time.
        self._lock = threading.Lock()
        self._serial, guest_serial = os.pipe()
        try:
            if serial_buffer is not None:
                fcntl.fcntl(guest_serial, fcntl.F_SETPIPE_SZ, serial_buffer)
            with open(stderr_path, "wb") as stderr:
                # QEMU's -serial stdio also reads its standard input, which
                # no test writes to.
                self._popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=guest_serial, stderr=stderr,
                                               start_new_session=True, preexec_fn=_die_with_the_harness)
        except BaseException:
            os.close(self._serial)
            raise
        finally:
            os.close(guest_serial)
        self._serial_open = True
        _live_processes.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self.exit_status is None and self._popen.poll() is None

    def read(self, wait: float) -> bytes | None:
        """What QEMU wrote to the pipe, waiting up to `wait` seconds for the
        first byte: b"" if nothing came, None once QEMU has exited and
        everything it wrote has been read: the pipe is at its end once no
        process holds its writing end open."""
        readable, _, _ = select.select([self._serial], [], [], wait)
        if not readable:
            return b""
        chunk = os.read(self._serial, READ_SIZE)
        if chunk:
            return chunk
        self.reap()
        return None

    def reap(self) -> None:
        """Takes the exit status of a QEMU that has exited or is exiting."""
        try:
            self._popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.kill()
            self._popen.wait()
        self._ended = time.monotonic()
        self.exit_status = self._popen.returncode

    def _reaped(self) -> bool:
        """The process is gone for good, and its pid free to be reused by
        another: nothing may be read or signalled by that pid any more."""
        return self._popen.returncode is not None

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
            self._signal_group(signal.SIGKILL)

    def stop(self) -> None:
        """Stops QEMU's process group (SIGTERM, then SIGKILL) and closes the
        pipe. Safe to call twice."""
        _live_processes.discard(self)
        with self._lock:
            for stop_signal, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
                if self._popen.poll() is not None or not self._signal_group(stop_signal):
                    break
                try:
                    self._popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            if self._serial_open:
                self._serial_open = False
                os.close(self._serial)

    def _signal_group(self, stop_signal: int) -> bool:
        """Whether the signal went out: not to a process already reaped,
        whose group id another process may have by now."""
        if self._reaped():
            return False
        try:
            os.killpg(self.pid, stop_signal)
        except ProcessLookupError:
            return False
        return True
