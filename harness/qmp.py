"""A client for QMP, the QEMU Machine Protocol: JSON over a unix socket.

The harness asks QEMU through it what a program on the guest cannot tell:
whether the CPU is halted and where, what is in guest memory, what the
screen shows, and why the machine stopped (QMP sends an event, SHUTDOWN,
whose reason is "guest-reset" after a triple fault).
"""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """QEMU answered a command with an error, or the connection is gone."""


class QmpConnection:
    def __init__(self, socket_path: Path, connect_timeout: float = 10.0):
        self._socket = self._connect(socket_path, connect_timeout)
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        self._read_message(timeout=connect_timeout)  # the greeting
        self.execute("qmp_capabilities")  # leaves negotiation mode

    @staticmethod
    def _connect(socket_path: Path, timeout: float) -> socket.socket:
        # QEMU creates the socket a moment after it starts; with
        # server=on,wait=on it then waits for us before running the guest.
        deadline = time.monotonic() + timeout
        while True:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.connect(str(socket_path))
                return connection
            except (FileNotFoundError, ConnectionRefusedError):
                connection.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"QEMU did not open its QMP socket {socket_path}")
                time.sleep(0.005)

    def execute(self, command: str, **arguments: Any) -> Any:
        """Runs a QMP command and returns its result; events that arrive
        meanwhile are kept in `events`."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            self._socket.sendall(json.dumps(request).encode() + b"\n")
        except OSError as error:
            raise QmpError(f"QEMU is gone ({error})") from error
        while True:
            message = self._read_message(timeout=10.0)
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise QmpError(f"{command}: {message['error'].get('desc', message['error'])}")

    def human_monitor(self, command_line: str) -> str:
        """Runs a command of the human monitor (HMP), e.g. `info registers`,
        for what QMP has no command of its own."""
        return self.execute("human-monitor-command", **{"command-line": command_line})

    def poll_events(self) -> list[dict[str, Any]]:
        """Reads the events QEMU has sent so far without waiting; returns
        all events received since the connection opened."""
        try:
            while self._read_message(timeout=0.0, events_only=True) is not None:
                pass
        except QmpError:
            pass  # QEMU has exited; the events received before still count
        return self.events

    def _read_message(self, timeout: float, events_only: bool = False) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self._socket], [], [], remaining)
            if not readable:
                if events_only:
                    return None
                raise QmpError("QEMU did not answer on QMP")
            try:
                chunk = self._socket.recv(65536)
            except OSError as error:
                raise QmpError(f"QEMU is gone ({error})") from error
            if not chunk:
                raise QmpError("QEMU closed the QMP connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if "event" in message:
            self.events.append(message)
        return message

    def close(self) -> None:
        self._socket.close()
