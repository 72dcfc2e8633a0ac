"""Connecting to a socket that QEMU opens a moment after it starts (QMP,
the gdb stub): the first attempts find no file, or nobody listening yet."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def connect_when_ready(path: Path, timeout: float) -> socket.socket | None:
    """A connection to the unix socket at path, tried until timeout seconds
    have passed; None if QEMU never opened it."""
    deadline = time.monotonic() + timeout
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(str(path))
            return connection
        except (FileNotFoundError, ConnectionRefusedError):
            connection.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
