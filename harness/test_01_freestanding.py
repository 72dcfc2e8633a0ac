"""Chapter 1: a freestanding C++ program.

The checks prove the three claims of the chapter: the kernel file needs
nothing from a hosted system (no dynamic linking, no C or C++ library), it
boots, and its C++ really ran: a global constructor and a computation leave
values in memory that were not in the file, the constructors before
kernel_main. And it ran on the stack that start.asm reserved, and halts
for good, even when a non-maskable interrupt comes.
"""

import pytest

import boot_state
from chapters import CHAPTERS, REPOSITORY
from elf import ElfFile
from gdb_stub import DIRECTION_FLAG, EFLAGS, RSP

MULTIBOOT1_MAGIC = (0x1BADB002).to_bytes(4, "little")
MULTIBOOT1_SEARCH_LIMIT = 8192  # the header must lie in the first 8 KiB
# A header flag: the header, not the ELF, gives the load addresses and the
# entry point, in five fields after the checksum (header_addr first,
# entry_addr last).
MULTIBOOT1_AOUT_KLUDGE = 1 << 16
HEADER_ADDR_OFFSET, ENTRY_ADDR_OFFSET = 12, 28

# Names that only a hosted C or C++ runtime provides. One of them in the
# kernel means a library or the start-up files of the host were linked in.
# (__cxa_atexit and __cxa_pure_virtual are not here: the compiler expects
# them, and a freestanding kernel defines them itself.)
HOSTED_RUNTIME_SYMBOLS = {
    "printf", "puts", "malloc", "free", "calloc", "realloc", "abort", "exit", "atexit",
    "__libc_start_main", "_init", "_fini", "__cxa_finalize",
    "__cxa_begin_catch", "__cxa_end_catch", "__cxa_throw", "__cxa_allocate_exception",
    "__gxx_personality_v0", "_Unwind_Resume", "__stack_chk_fail", "__stack_chk_guard",
    "_Znwm", "_Znwj", "_ZdlPv", "_ZdlPvm", "_ZdlPvj",  # operator new and delete
}


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter("01")


@pytest.fixture(scope="module")
def kernel_elf(chapter):
    return ElfFile(chapter.elf())


def test_kernel_is_elf32_with_multiboot1_header_in_first_8_KiB(kernel_elf):
    assert kernel_elf.bits == 32, "QEMU's -kernel and GRUB's multiboot load only ELF32 kernels"
    offset = kernel_elf.file_offset_of_first(MULTIBOOT1_MAGIC, MULTIBOOT1_SEARCH_LIMIT)
    assert offset is not None, "no Multiboot 1 magic 0x1badb002 in the first 8 KiB of the file"
    assert offset % 4 == 0, f"the Multiboot 1 header at file offset {offset:#x} is not 4-byte aligned"
    flags, checksum = (int.from_bytes(kernel_elf.data[offset + i:offset + i + 4], "little") for i in (4, 8))
    assert (0x1BADB002 + flags + checksum) % 2**32 == 0, "the Multiboot 1 checksum does not make the sum zero"
    if flags & MULTIBOOT1_AOUT_KLUDGE:
        # Then the loader trusts the header's fields over the ELF's: fields
        # left out or zero load the kernel nowhere (QEMU refuses it, "invalid
        # header_addr address", before the boot has a verdict).
        header_addr, entry_addr = (int.from_bytes(kernel_elf.data[offset + i:offset + i + 4], "little")
                                   for i in (HEADER_ADDR_OFFSET, ENTRY_ADDR_OFFSET))
        loaded_at = next((segment.virtual_address + offset - segment.offset for segment in kernel_elf.program_headers
                          if segment.type == "LOAD" and 0 <= offset - segment.offset < segment.file_size), None)
        assert (header_addr, entry_addr) == (loaded_at, kernel_elf.entry), (
            f"the Multiboot 1 flags {flags:#x} ask for the a.out kludge (bit 16): the loader takes the load address "
            f"and entry point from the header, whose header_addr is {header_addr:#x} and entry_addr {entry_addr:#x}, "
            f"where the ELF puts the header at {loaded_at or 0:#x} and its entry point at {kernel_elf.entry:#x}; "
            "an ELF kernel needs no kludge (flags 0)")


def test_kernel_has_no_undefined_symbols(kernel_elf):
    undefined = [symbol.name for symbol in kernel_elf.undefined_symbols()]
    assert not undefined, f"undefined symbols (something expects a library): {undefined}"


def test_kernel_needs_no_dynamic_loader(kernel_elf):
    types = [header.type for header in kernel_elf.program_headers]
    assert "INTERP" not in types, "an INTERP program header asks for a dynamic loader"
    assert "DYNAMIC" not in types, "a DYNAMIC program header means dynamic linking"


def test_kernel_has_no_hosted_runtime_symbols(kernel_elf):
    names = {symbol.name for symbol in kernel_elf.symbols}
    found = sorted(names & HOSTED_RUNTIME_SYMBOLS | {n for n in names if n.startswith(("_Unwind_", "__libc_"))})
    assert not found, f"symbols of a hosted C/C++ runtime in the kernel: {found}"


def test_every_object_comes_from_the_kernel_sources(kernel_elf):
    # Each object file leaves its source's name in the symbol table; a
    # library or crt0 linked in would add names of sources we do not have.
    ours = {p.name for p in (CHAPTERS / "01-freestanding").iterdir()} | \
        {p.name for p in (REPOSITORY / "common").iterdir()}
    sources = {symbol.name for symbol in kernel_elf.symbols if symbol.type == "FILE"}
    assert sources, "the kernel has no source file names in its symbol table: was it stripped?"
    assert sources <= ours, f"objects from elsewhere linked in: {sorted(sources - ours)}"


def test_results_are_not_in_the_file(kernel_elf):
    # The values the boot test reads must come from running code: in the
    # file (and so in memory before the kernel starts) they are zero.
    for name in ("global_constructors_run", "primes_below_10000"):
        symbol = kernel_elf.symbol(name)
        assert kernel_elf.initial_bytes(symbol.value, symbol.size) == bytes(symbol.size), \
            f"{name} is not zero in the ELF image: the compiler computed it, not the kernel"


def test_kernel_boots_runs_its_cpp_and_halts(boot, chapter, stub):
    machine = boot(chapter.elf(), qemu_args=stub.qemu_arguments(), timeout=5)
    # The constructors run before kernel_main, which may use the objects
    # they construct: counted at the halt, they could have run after it.
    counter = machine.symbol("global_constructors_run")
    stub.run_to(machine.symbol("kernel_main").value)
    at_kernel_main = int.from_bytes(stub.read_memory(counter.value, counter.size), "little")
    stub.detach()
    assert at_kernel_main == 2, \
        f"global_constructors_run is {at_kernel_main} when kernel_main starts, expected 2: constructors called late?"
    registers = machine.wait_until_halted_in("halt_forever")
    assert registers.halted
    constructors = machine.read_symbol("global_constructors_run")
    assert constructors == 2, f"global_constructors_run is {constructors}, expected 2: .init_array not walked?"
    primes = machine.read_symbol("primes_below_10000")
    assert primes == 1229, f"primes_below_10000 is {primes}, expected 1229"


def test_first_cpp_call_finds_the_direction_flag_clear_and_the_stack_aligned(boot, chapter, stub):
    """boot_state.first_call_problems, in 32-bit code. Multiboot leaves
    the direction flag undefined: the test sets it at _start."""
    machine = boot(chapter.elf(), qemu_args=stub.qemu_arguments(), timeout=5)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | DIRECTION_FLAG)
    stub.run_to(machine.symbol("run_global_constructors").value)
    flags, esp = stub.read_register(EFLAGS), stub.read_register(RSP)
    stub.detach()
    problems = boot_state.first_call_problems(flags, esp, mode_bits=32)
    assert not problems, "\n".join(problems)


def test_halt_forever_halts_for_good(boot, chapter, stub):
    """cli masks every interrupt but the non-maskable one, which wakes the
    CPU from hlt; its handler returns after the hlt, so only a loop back
    to it keeps the CPU halted. And a later chapter calls halt_forever
    with interrupts on. This kernel has no handlers: the test plays both
    (boot_state.halt_forever_problems)."""
    machine = boot(chapter.elf(), qemu_args=stub.qemu_arguments(), timeout=5)
    problems = boot_state.halt_forever_problems(machine, stub)
    assert not problems, "\n".join(problems)


def test_the_kernel_runs_within_its_stack(boot, chapter, stub):
    """The stack grows down from stack_top. Started at stack_bottom
    instead, it grows into whatever lies below, and this small kernel still
    runs: ESP at the halt shows it. A stack reserved too small is overrun
    the same way, and ESP at the halt is back inside it: the stack is
    painted at _start, and the kernel's writes must not reach its bottom
    (boot_state.stack_depth_problems)."""
    machine = boot(chapter.elf(), qemu_args=stub.qemu_arguments(), timeout=5)
    stub.run_to(machine.symbol("_start").value)
    boot_state.paint_the_stack(machine, stub)
    stub.detach()
    problems = boot_state.stack_problems(machine, machine.wait_until_halted_in("halt_forever"))
    problems += boot_state.stack_depth_problems(machine)
    assert not problems, "\n".join(problems)
