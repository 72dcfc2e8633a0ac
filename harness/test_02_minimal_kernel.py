"""Chapter 2: GRUB loads a Multiboot2 kernel that switches to long mode and
writes to the VGA text buffer.

The screen is checked cell by cell in guest memory, character and colour,
and each of the boot code's checks by a CPU that lacks what it checks for:
a QEMU CPU model without long mode or PAE, or, through QEMU's gdb stub, a
CPU whose EFLAGS.ID does not flip, one without the extended CPUID leaf that
reports long mode, and a loader that is not Multiboot2.
"""

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import multiboot2_header
from chapters import all_chapters
from elf import ElfFile
from gdb_stub import DIRECTION_FLAG, EFLAGS, RAX, RCX, RSP, GdbStub
from halted import same_boot

CHAPTER = "02-minimal-kernel"
LIGHT_GREEN_ON_BLACK = 0x0A
WHITE_ON_RED = 0x4F
# This chapter and every one after it carry a copy of multiboot_header.asm
# (chapter 1 is loaded by Multiboot 1). Those that are here: the build-along
# path runs this module in a workspace of chapter 2 alone.
MULTIBOOT2_CHAPTERS = [directory for directory in all_chapters() if directory[:2] != "01"]


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter(CHAPTER)


@pytest.fixture
def stub():
    # A unix socket path may be at most 107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="gdb-") as directory:
        stub = GdbStub(Path(directory) / "gdb.sock")
        yield stub
        stub.close()


def boot_with_direction_flag_set(boot, chapter, stub, qemu_args=()):
    """Boots with the CPU stopped at _start and sets EFLAGS.DF there (which
    Multiboot2 allows); the stub goes on from there."""
    machine = boot(chapter.iso(), qemu_args=[*stub.qemu_arguments(), *qemu_args], timeout=10)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | DIRECTION_FLAG)
    return machine


def test_grub_recognises_a_multiboot2_kernel(chapter):
    result = subprocess.run(["grub-file", "--is-x86-multiboot2", str(chapter.elf())])
    assert result.returncode == 0, "grub-file finds no valid Multiboot2 header in kernel.elf"


@pytest.mark.parametrize("directory", MULTIBOOT2_CHAPTERS)
def test_multiboot2_header_is_as_the_specification_lays_it_out(build, directory):
    problems = multiboot2_header.header_problems(ElfFile(build.chapter(directory).elf()))
    assert not problems, f"{directory}'s kernel.elf: " + "; ".join(problems)


# The boot that test_boot_state reads chapter 2's page tables and GDT from
# (halted.py).
@same_boot(CHAPTER)
def test_prints_hello_world_and_halts(halted_kernel):
    halted_kernel.machine.screen().expect_text(0, 0, "Hello World!", attribute=LIGHT_GREEN_ON_BLACK)


def expect_boot_error(machine, message):
    """The message on serial and in white on red at the top left, the CPU
    halted in boot_error, and no "Hello World!" (a wrong "ok")."""
    machine.wait_for_serial("^" + re.escape(message) + "$")
    registers = machine.wait_until_halted()
    assert not machine.triple_faulted
    machine.screen().expect_text(0, 0, message, attribute=WHITE_ON_RED)
    machine.screen().expect_absent(["Hello World!"])
    where = machine.describe_address(registers.rip)
    assert where is not None and where.startswith("boot_error"), f"halted at {where}, not in the boot error path"


# Each CPU lacks exactly what its message names. A 32-bit CPU, qemu32, is
# the boot of test_boot_error_reads_right_with_the_direction_flag_set.
@pytest.mark.parametrize("cpu, message", [
    ("qemu64,-lm", "Boot error: this CPU has no 64-bit long mode"),
    ("qemu64,-pae", "Boot error: this CPU has no PAE, which long mode needs"),
])
def test_cpu_lacking_a_feature_gets_its_own_error_and_a_halt(boot, chapter, cpu, message):
    machine = boot(chapter.iso(), qemu_args=["-cpu", cpu], timeout=10)
    expect_boot_error(machine, message)


def test_cpu_without_cpuid_gets_its_own_error(boot, chapter, stub):
    # No QEMU model lacks CPUID, so the test plays such a CPU at the one
    # place the boot code asks: after it tried to flip EFLAGS.ID, it reads
    # the bit back unchanged (EAX = ECX, the original EFLAGS).
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("check_cpuid.id_bit_read_back").value)
    stub.write_register(RAX, stub.read_register(RCX))
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no CPUID instruction")


def test_cpu_without_the_extended_feature_leaf_gets_the_long_mode_error(boot, chapter, stub):
    # CPUID answers a leaf above the highest with another leaf's data, so
    # the LM bit of leaf 0x80000001 means nothing unless leaf 0x80000000
    # says the CPU has that leaf. Every QEMU model has it: the test plays
    # an older CPU, whose highest extended leaf is 0x80000000, while the
    # real leaf 0x80000001 still says LM.
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("check_long_mode.highest_extended_leaf").value)
    stub.write_register(RAX, 0x80000000)
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no 64-bit long mode")


def test_kernel_not_loaded_by_multiboot2_gets_its_own_error(boot, chapter, stub):
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(RAX, 0x2BADB002)  # the magic of Multiboot 1
    stub.detach()
    expect_boot_error(machine, "Boot error: not loaded by a Multiboot2 loader")


def test_first_cpp_call_finds_the_direction_flag_clear_and_the_stack_aligned(boot, chapter, stub):
    """What the System V ABI promises every function on entry, and the
    compiler relies on: DF=0 for its string instructions (rep movs, rep
    stos), and RSP+8 a multiple of 16 (SSE's aligned moves, alignas(16)
    locals). A misaligned stack goes unnoticed until such code runs."""
    machine = boot_with_direction_flag_set(boot, chapter, stub)
    stub.run_to(machine.symbol("run_global_constructors").value)
    flags, rsp = stub.read_register(EFLAGS), stub.read_register(RSP)
    stub.detach()
    assert not flags & DIRECTION_FLAG, \
        f"EFLAGS={flags:#x}: the direction flag set at _start is still set at the first C++ call (no cld)"
    assert (rsp + 8) % 16 == 0, \
        f"RSP={rsp:#x} at the first C++ call: RSP+8 must be a multiple of 16 (its return address just pushed)"


def test_boot_error_reads_right_with_the_direction_flag_set(boot, chapter, stub):
    # On a 32-bit CPU, qemu32.
    machine = boot_with_direction_flag_set(boot, chapter, stub, qemu_args=["-cpu", "qemu32"])
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no 64-bit long mode")
