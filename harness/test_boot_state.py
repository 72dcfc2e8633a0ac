"""The state boot.asm leaves the machine in, read back from it (boot_state.py):
page tables, control registers, stack pointer.

Chapters 02-05 share boot.asm unchanged, so each of their kernels is booted
once, halted at the end in halt_forever, and checked. Chapter 06 changes
the tables at run time (it unmaps a guard page), so only where its boot.asm
puts them is checked.
"""

import pytest

import boot_state
from elf import ElfFile

UNCHANGED_BOOT_CODE = ["02-minimal-kernel", "03-vga-text", "04-testing", "05-cpu-exceptions"]


# One boot per chapter for the module's tests: under xdist, a chapter's
# tests share one worker (the xdist group), which boots it once.
@pytest.fixture(scope="module", params=[pytest.param(chapter, marks=pytest.mark.xdist_group(f"boot-state-{chapter}"))
                                        for chapter in UNCHANGED_BOOT_CODE])
def halted_kernel(request, build, shared_boot):
    machine = shared_boot(build.chapter(request.param).iso())
    registers = machine.wait_until_halted_in("halt_forever")
    return machine, registers


def test_page_tables_identity_map_the_first_gigabyte(halted_kernel):
    machine, _ = halted_kernel
    problems = boot_state.identity_map_problems(boot_state.read_page_tables(machine))
    assert not problems, f"{len(problems)} page table entries differ from the identity map:\n" + \
        "\n".join(problems[:20])


def test_control_registers_enable_long_mode_with_these_tables(halted_kernel):
    machine, registers = halted_kernel
    problems = boot_state.control_register_problems(registers, machine.symbol("pml4").value)
    assert not problems, "\n".join(problems)


def test_stack_pointer_is_inside_the_boot_stack_at_the_final_halt(halted_kernel):
    machine, registers = halted_kernel
    problems = boot_state.stack_problems(machine, registers)
    assert not problems, "\n".join(problems)


@pytest.mark.chapter("06")
def test_page_tables_lie_above_the_stack_where_no_overflow_reaches(build):
    # A frame larger than a page can step over the guard page below the
    # stack; the page directory must not be what it lands on.
    elf = ElfFile(build.chapter("06").elf())
    stack_top = elf.symbol("stack_top").value
    below = [name for name in ("pml4", "pdpt", "page_directory") if elf.symbol(name).value < stack_top]
    assert not below, f"{', '.join(below)} below the stack top {stack_top:#x}: a stack overflow reaches them"
