"""Chapter 2: GRUB loads a Multiboot2 kernel that switches to long mode and
writes to the VGA text buffer.

The screen is checked cell by cell in guest memory, character and colour,
and the boot code's error path by booting a CPU without long mode.
"""

import subprocess
import tempfile
from pathlib import Path

import pytest

from gdb_stub import DIRECTION_FLAG, EFLAGS, GdbStub

LIGHT_GREEN_ON_BLACK = 0x0A
WHITE_ON_RED = 0x4F


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter("02")


@pytest.fixture
def gdb_socket():
    # A unix socket path may be at most 107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="gdb-") as directory:
        yield Path(directory) / "gdb.sock"


def boot_with_direction_flag_set(boot, chapter, gdb_socket, qemu_args=()):
    """Boots with the CPU stopped at _start, sets EFLAGS.DF there (which
    Multiboot2 allows), and returns the machine and the stub to go on with."""
    machine = boot(chapter.iso(), qemu_args=[*GdbStub.qemu_arguments(gdb_socket), *qemu_args], timeout=10)
    stub = GdbStub(gdb_socket)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | DIRECTION_FLAG)
    return machine, stub


def test_grub_recognises_a_multiboot2_kernel(chapter):
    result = subprocess.run(["grub-file", "--is-x86-multiboot2", str(chapter.elf())])
    assert result.returncode == 0, "grub-file finds no valid Multiboot2 header in kernel.elf"


def test_prints_hello_world_and_halts(boot, chapter):
    machine = boot(chapter.iso(), timeout=10)
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_text(0, 0, "Hello World!", attribute=LIGHT_GREEN_ON_BLACK)


def test_cpu_without_long_mode_gets_an_error_and_a_halt(boot, chapter):
    # qemu32 is a 32-bit CPU: CPUID reports no long mode.
    machine = boot(chapter.iso(), qemu_args=["-cpu", "qemu32"], timeout=10)
    registers = machine.wait_until_halted()
    machine.screen().expect_text(0, 0, "Boot error: this CPU has no 64-bit long mode", attribute=WHITE_ON_RED)
    assert not machine.triple_faulted
    where = machine.describe_address(registers.rip)
    assert where is not None and where.startswith("boot_error"), f"halted at {where}, not in the boot error path"


def test_direction_flag_is_clear_when_cpp_code_starts(boot, chapter, gdb_socket):
    # The compiler's string instructions (rep movs, rep stos) assume DF=0.
    machine, stub = boot_with_direction_flag_set(boot, chapter, gdb_socket)
    stub.run_to(machine.symbol("run_global_constructors").value)
    flags = stub.read_register(EFLAGS)
    stub.detach()
    assert not flags & DIRECTION_FLAG, \
        f"EFLAGS={flags:#x}: the direction flag set at _start is still set at the first C++ call (no cld)"


def test_boot_error_reads_right_with_the_direction_flag_set(boot, chapter, gdb_socket):
    machine, stub = boot_with_direction_flag_set(boot, chapter, gdb_socket, qemu_args=["-cpu", "qemu32"])
    stub.detach()
    machine.wait_until_halted()
    machine.screen().expect_text(0, 0, "Boot error: this CPU has no 64-bit long mode", attribute=WHITE_ON_RED)
