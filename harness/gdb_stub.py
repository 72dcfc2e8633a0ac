"""A small client of QEMU's gdb stub, for tests that must put the CPU in a
state no QEMU option gives: a flag set at the kernel's entry point, a
register changed at one instruction.

QEMU speaks the GDB remote serial protocol on the socket of its `-gdb`
option: packets `$data#checksum`, each acknowledged with `+`. This client
uses the few commands such a test needs: a breakpoint (`Z0`), continue
(`c`, answered when the CPU stops), a single step (`s`), read and write
the registers (`g`, `G`: QEMU answers `p` and `P` for one register only
to a client that read its XML register description), read and write
memory (`m`, `M`, at the addresses the CPU's page tables give), and detach
(`D`), after which the guest runs on untouched.

    stub = GdbStub(socket_path)     # listens there
    machine = boot(image, qemu_args=stub.qemu_arguments())
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | DIRECTION_FLAG)
    stub.detach()
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

# Registers in the order of QEMU's x86_64 gdb stub (gdb's amd64 layout):
# sixteen 8-byte general registers, RIP, then the 4-byte EFLAGS. In 32-bit
# code the general registers read as their low halves.
RAX, RBX, RCX, RDX = 0, 1, 2, 3
RSI, RDI = 4, 5
RSP = 7
R8 = 8
RIP = 16
EFLAGS = 17
_GENERAL_REGISTER_SIZE = 8
_EFLAGS_SIZE = 4
INTERRUPT_FLAG = 1 << 9  # IF: maskable interrupts are taken
DIRECTION_FLAG = 1 << 10
_MEMORY_CHUNK = 1024  # bytes of memory in one m or M packet (_chunks)


class GdbStubError(Exception):
    """The stub answered with an error, or did not answer in time."""


class GdbStub:
    """The harness listens on a unix socket and QEMU, started with
    qemu_arguments(), connects to it as it starts: no waiting for a socket
    that QEMU has yet to create.

    A kernel that triple-faults, or that GRUB refuses, loses the stub its
    CPU: the stub stops for another reason, or falls silent. `explain`,
    when given, says what became of the kernel (the machine's verdict),
    and the GdbStubError of such a loss carries it: a play on a broken
    kernel then fails naming the triple fault, not the stub's reply."""

    def __init__(self, socket_path: Path, timeout: float = 10.0, explain: Callable[[], str | None] | None = None):
        self._socket_path = socket_path
        self._timeout = timeout
        self._explain = explain
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(socket_path))
        self._listener.listen(1)
        self._connection: socket.socket | None = None
        self._buffer = b""

    @property
    def address(self) -> str:
        """Where QEMU connects, as its -gdb option says it."""
        return f"unix:{self._socket_path}"

    def qemu_arguments(self) -> list[str]:
        """QEMU's options for a stub that connects here, with the CPU
        stopped before its first instruction (-S) until the test continues it."""
        return ["-gdb", self.address, "-S"]

    def _stub(self) -> socket.socket:
        if self._connection is None:
            self._listener.settimeout(self._timeout)
            try:
                self._connection, _ = self._listener.accept()
            except socket.timeout as error:
                raise GdbStubError(f"QEMU's gdb stub did not connect to {self._socket_path}") from error
            self._connection.settimeout(self._timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._listener.close()

    # The protocol.

    def _send(self, data: str) -> None:
        checksum = sum(data.encode()) % 256
        self._stub().sendall(f"${data}#{checksum:02x}".encode())

    def _receive(self) -> str:
        """The next packet's data, acknowledged; acknowledgements skipped."""
        while True:
            start = self._buffer.find(b"$")
            end = self._buffer.find(b"#", start)
            if start >= 0 and end >= 0 and len(self._buffer) >= end + 3:
                data = self._buffer[start + 1:end].decode()
                self._buffer = self._buffer[end + 3:]
                self._stub().sendall(b"+")
                return data
            try:
                chunk = self._stub().recv(4096)
            except socket.timeout as error:
                raise self._lost("the gdb stub did not answer in time") from error
            if not chunk:
                raise self._lost("QEMU closed the gdb stub's connection")
            self._buffer += chunk

    def _lost(self, message: str) -> GdbStubError:
        """The error for a CPU the stub lost: what became of the kernel
        first, when `explain` can tell, then what the stub said."""
        ending = self._explain() if self._explain is not None else None
        return GdbStubError(f"{ending} (the gdb stub: {message})" if ending else message)

    def _command(self, data: str) -> str:
        self._send(data)
        reply = self._receive()
        if reply.startswith("E") and len(reply) == 3:
            raise GdbStubError(f"the gdb stub refused {data!r}: {reply}")
        return reply

    # What tests ask.

    def run_to(self, address: int) -> None:
        """Continues the CPU until it is about to execute address."""
        self._command(f"Z0,{address:x},1")
        try:
            reply = self._command("c")
        except GdbStubError as error:
            # A kernel that never gets there: a play's failure names where.
            raise GdbStubError(f"the CPU did not reach the breakpoint at {address:#x}: {error}") from error
        self._command(f"z0,{address:x},1")
        if not reply.startswith(("S05", "T05")):
            raise self._lost(f"the CPU stopped for another reason than the breakpoint at {address:#x}: {reply}")

    def step(self) -> None:
        """Executes one instruction, and stops after it."""
        reply = self._command("s")
        if not reply.startswith(("S05", "T05")):
            raise self._lost(f"the CPU stopped for another reason than the single step: {reply}")

    def read_register(self, number: int) -> int:
        registers = bytes.fromhex(self._command("g"))
        start, size = _place_of(number)
        return int.from_bytes(registers[start:start + size], "little")

    def write_register(self, number: int, value: int) -> None:
        registers = bytearray.fromhex(self._command("g"))
        start, size = _place_of(number)
        registers[start:start + size] = value.to_bytes(size, "little")
        # QEMU writes as many registers as the packet holds. The rest of
        # the block (segments, control registers, FPU) is left alone:
        # writing it back, even unchanged, reloads state the CPU depends on.
        written = registers[:_place_of_end(EFLAGS)]
        if self._command(f"G{written.hex()}") != "OK":
            raise GdbStubError(f"the gdb stub did not write register {number}")

    def read_memory(self, address: int, size: int) -> bytes:
        return b"".join(bytes.fromhex(self._command(f"m{start:x},{length:x}"))
                        for start, length in _chunks(address, size))

    def read_string(self, address: int, limit: int = 256) -> str:
        """The zero-terminated string at address (the text a C++ function
        was passed, say), of at most limit bytes, read in one go rather
        than a packet per byte."""
        data = self.read_memory(address, limit)
        return data[:data.index(0)].decode(errors="replace") if 0 in data else data.decode(errors="replace")

    def write_memory(self, address: int, data: bytes) -> None:
        for start, length in _chunks(address, len(data)):
            part = data[start - address:start - address + length]
            if self._command(f"M{start:x},{length:x}:{part.hex()}") != "OK":
                raise GdbStubError(f"the gdb stub did not write {length} bytes at {start:#x}")

    def detach(self) -> None:
        """Lets the guest run on by itself; the connection is closed. QEMU
        answers, then lets the guest run at once: one whose next
        instruction ends QEMU (an out to isa-debug-exit) may have closed
        the connection before the answer is acknowledged."""
        try:
            self._command("D")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close()


def _place_of(number: int) -> tuple[int, int]:
    """Offset and size of a register in the block of g and G."""
    if not 0 <= number <= EFLAGS:
        raise ValueError(f"register {number}: this client knows the general registers, RIP and EFLAGS")
    return number * _GENERAL_REGISTER_SIZE, _EFLAGS_SIZE if number == EFLAGS else _GENERAL_REGISTER_SIZE


def _place_of_end(number: int) -> int:
    start, size = _place_of(number)
    return start + size


def _chunks(address: int, size: int) -> list[tuple[int, int]]:
    """The pieces of a memory access that fit a packet: QEMU's stub takes
    packets of at most 4096 characters, two for each byte, and garbles a
    longer one rather than refuse it."""
    return [(start, min(_MEMORY_CHUNK, address + size - start))
            for start in range(address, address + size, _MEMORY_CHUNK)]
