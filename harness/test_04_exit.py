"""Chapters 04-06: what the kernel writes to isa-debug-exit, read at the out.

QEMU ends with status (value << 1) | 1, and an exit status keeps only its
low 8 bits: a kernel that writes 0x90 for success ends with 33 as one that
writes 0x10 does, and every test that reads the status passes it. So the
test stops the CPU at the out instruction of qemu_exit, through QEMU's gdb
stub, and reads the port and the value there, as the device will get them.
basic_boot ends its run with success, failing_tests with failure (0x91
would end QEMU with 35 as 0x11 does); chapters 05 and 06 carry qemu_exit
unchanged.

Where no such device is (real hardware, or QEMU without it), the write goes
nowhere and qemu_exit must halt the CPU, as qemu_exit.h promises: a kernel
that ran on, or spun, would heat a real machine with nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import ktap
from gdb_stub import RAX, RDX, RIP
from verdict import KernelFailure

CHAPTERS = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
DEBUG_EXIT_PORT = 0xF4
SUCCESS, FAILURE = 0x10, 0x11
# A kernel that ends its run each way, and the value it must write.
ENDINGS = [("basic_boot", SUCCESS, "success"), ("failing_tests", FAILURE, "failure")]
# qemu_exit writes first thing: if no out comes within this many
# instructions, it writes nothing at all.
STEPS_TO_THE_OUT = 50
OPERAND_SIZE_PREFIX = 0x66


@dataclass(frozen=True)
class Out:
    """An out instruction: where it writes (None: the port is in DX) and how
    many bytes of RAX."""
    port: int | None
    size: int


def decode_out(code: bytes) -> Out | None:
    """The out instruction at the start of `code`, if one is there (SDM
    vol. 2B, OUT: E6/E7 with the port as an immediate byte, EE/EF with it in
    DX; the E7/EF forms write EAX, or AX after the 0x66 prefix)."""
    prefixed = code[0] == OPERAND_SIZE_PREFIX
    opcode = code[1] if prefixed else code[0]
    if opcode not in (0xE6, 0xE7, 0xEE, 0xEF):
        return None
    size = 1 if opcode in (0xE6, 0xEE) else 2 if prefixed else 4
    return Out(code[2 if prefixed else 1] if opcode in (0xE6, 0xE7) else None, size)


@pytest.mark.parametrize("kernel, code, verdict", ENDINGS, ids=[verdict for _, _, verdict in ENDINGS])
@pytest.mark.parametrize("directory", CHAPTERS)
def test_the_verdict_is_exactly_its_code_on_the_exit_port(boot, build, stub, directory, kernel, code, verdict):
    machine = boot(build.chapter(directory).iso(kernel), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.elf.function_named_like("qemu_exit").value)
    for _ in range(STEPS_TO_THE_OUT):
        out = decode_out(stub.read_memory(stub.read_register(RIP), 3))
        if out is not None:
            break
        stub.step()
    else:
        pytest.fail(f"qemu_exit ran {STEPS_TO_THE_OUT} instructions without an out instruction")
    port = out.port if out.port is not None else stub.read_register(RDX) & 0xFFFF
    value = stub.read_register(RAX) & ((1 << 8 * out.size) - 1)
    stub.detach()
    assert port == DEBUG_EXIT_PORT, f"qemu_exit writes to port {port:#x}, not to isa-debug-exit's {DEBUG_EXIT_PORT:#x}"
    assert value == code, (
        f"{kernel} ends its run with {verdict} writing {value:#x} to isa-debug-exit, not {code:#x}: QEMU keeps "
        f"the low 7 bits only, so its status ({(value << 1 | 1) & 0xFF}) may still read as {verdict}")
    assert machine.wait_for_exit() == (code << 1 | 1)


@pytest.mark.parametrize("directory", CHAPTERS)
def test_without_the_exit_device_the_kernel_halts_after_its_run(boot, build, directory):
    machine = boot(build.chapter(directory).iso("basic_boot"), exit_device=False, timeout=3)
    failure = None
    try:
        machine.wait_until_halted_in("halt_forever")
    except KernelFailure as caught:
        failure = caught
    if failure is not None:
        pytest.fail("on a machine without isa-debug-exit, basic_boot's run did not end halted in halt_forever: "
                    "qemu_exit must halt the CPU when its write goes nowhere (qemu_exit.h)\n" + failure.describe())
    report = ktap.parse(machine.serial_text)
    assert report.complete and all(result.ok for result in report.results), (
        f"basic_boot halted, but its run did not pass whole:\n{machine.serial_text}")
