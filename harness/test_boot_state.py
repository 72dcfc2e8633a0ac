"""The state each chapter's kernel leaves the machine in, read back from it
rather than judged by the kernel's visible effects: the page tables, control
registers and stack pointer boot.asm sets up (boot_state.py), and the
descriptor tables the CPU uses (descriptor_tables.py): the GDT of every
chapter (boot.asm's, then chapter 6's own) and the selectors in the segment
registers, the IDT of chapters 05 and 06, the TSS of chapter 06; and the
serial port's line settings from chapter 04 on, as the UART took them
(line_settings.py).

Each chapter's kernel is booted once, halted at the end in halt_forever,
and checked: the boot from which chapters 2 and 3 read their screens
(halted.py). Chapters 02-05 share boot.asm unchanged; chapter 06 changes
the page tables at run time: its map is checked with its guard pages
unmapped, and where its boot.asm puts the tables.
"""

import pytest

import boot_state
import descriptor_tables
import line_settings
from elf import ElfFile
from halted import Halted, HaltedKernels, same_boot
from test_06_double_faults import Layout

UNCHANGED_BOOT_CODE = ["02-minimal-kernel", "03-vga-text", "04-testing", "05-cpu-exceptions"]
EVERY_CHAPTER = UNCHANGED_BOOT_CODE + ["06-double-faults"]
WITH_AN_IDT = ["05-cpu-exceptions", "06-double-faults"]
WITH_A_TSS = ["06-double-faults"]
WITH_GUARD_PAGES = ["06-double-faults"]
WITH_A_SERIAL_PORT = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
# What serial_port.cpp promises, and the kernel's screen says.
SERIAL_LINE = line_settings.LineSettings(baud=115200, parity="N", data_bits=8, stop_bits=1)
DOUBLE_FAULT = 8
# Chapter 6 sends the double fault to the first stack of the TSS's table.
INTERRUPT_STACKS = {"05-cpu-exceptions": {}, "06-double-faults": {DOUBLE_FAULT: 1}}


def halted(chapters: list[str]) -> list:
    """The chapters, as parameters of a test whose halted_kernel is theirs."""
    return [pytest.param(chapter, marks=same_boot(chapter)) for chapter in chapters]


@pytest.fixture
def halted_kernel(request, chapter: str, halted_kernels: HaltedKernels) -> Halted:
    """The test's chapter's kernel, halted (conftest.py's is the module's)."""
    return halted_kernels(chapter, request.node)


@pytest.mark.parametrize("chapter", halted(UNCHANGED_BOOT_CODE))
def test_page_tables_identity_map_the_first_gigabyte(halted_kernel):
    problems = boot_state.identity_map_problems(boot_state.read_page_tables(halted_kernel.machine))
    assert not problems, f"{len(problems)} page table entries differ from the identity map:\n" + \
        "\n".join(problems[:20])


@pytest.mark.parametrize("chapter", halted(UNCHANGED_BOOT_CODE))
def test_nothing_is_written_past_the_page_directory(halted_kernel):
    machine = halted_kernel.machine
    problems = boot_state.past_the_page_directory_problems(machine, boot_state.read_page_tables(machine))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(WITH_GUARD_PAGES))
def test_page_tables_identity_map_the_first_gigabyte_but_the_guard_pages(halted_kernel):
    # The kernel stack's guard pages and the double fault stack's.
    layout = Layout.of(halted_kernel.elf)
    tables = boot_state.read_page_tables(halted_kernel.machine)
    problems = boot_state.identity_map_problems(
        tables, boot_state.read_split_tables(halted_kernel.machine, tables),
        unmapped=[layout.kernel_stack_guard, layout.double_fault_guard_page])
    assert not problems, f"{len(problems)} page table entries differ from the identity map with its guard pages " \
        "unmapped:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("chapter", halted(EVERY_CHAPTER))
def test_control_registers_enable_long_mode_with_these_tables(halted_kernel):
    pml4 = halted_kernel.elf.symbol("pml4").value
    problems = boot_state.control_register_problems(halted_kernel.registers, pml4)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(UNCHANGED_BOOT_CODE))
def test_stack_pointer_is_inside_the_boot_stack_at_the_final_halt(halted_kernel):
    problems = boot_state.stack_problems(halted_kernel.machine, halted_kernel.registers)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(EVERY_CHAPTER))
def test_gdt_holds_the_null_descriptor_then_a_64_bit_kernel_code_segment(halted_kernel):
    # boot.asm's GDT in chapters 02-05, chapter 6's own after it.
    machine, registers = halted_kernel.machine, halted_kernel.registers
    gdtr = descriptor_tables.table_register(registers, "GDT")
    problems = descriptor_tables.gdt_problems(gdtr, descriptor_tables.read_table(machine, gdtr), registers["CS"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(UNCHANGED_BOOT_CODE))
def test_gdtr_holds_boot_asms_gdt_and_nothing_past_it(halted_kernel):
    # A limit copied from a real-mode tutorial (0xffff) is a whole number
    # of descriptors too, and the kernel's own selector works with it.
    machine = halted_kernel.machine
    gdtr = descriptor_tables.table_register(halted_kernel.registers, "GDT")
    problems = boot_state.gdt_register_problems(gdtr, machine.symbol("gdt64").value,
                                                machine.symbol("gdt64.pointer").value)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(EVERY_CHAPTER))
def test_data_segment_registers_hold_selectors_of_this_gdt(halted_kernel):
    # Chapters 02-04 take no interrupt, so nothing else notices GRUB's
    # selectors left in them: chapter 5's first iretq would.
    machine, registers = halted_kernel.machine, halted_kernel.registers
    gdtr = descriptor_tables.table_register(registers, "GDT")
    problems = descriptor_tables.data_segment_problems(gdtr, descriptor_tables.read_table(machine, gdtr), registers)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(WITH_AN_IDT))
def test_idt_has_an_interrupt_gate_into_each_exception_stub(halted_kernel, chapter):
    machine, registers = halted_kernel.machine, halted_kernel.registers
    idtr = descriptor_tables.table_register(registers, "IDT")
    # The stubs of exception_entry.asm by the ELF's symbols, not by the
    # table of their addresses that the kernel builds its gates from.
    handlers = [halted_kernel.elf.symbol(f"exception_entry_{vector}").value
                for vector in range(descriptor_tables.EXCEPTION_VECTORS)]
    problems = descriptor_tables.idt_problems(idtr, descriptor_tables.read_table(machine, idtr), registers["CS"],
                                              handlers, INTERRUPT_STACKS[chapter])
    assert not problems, f"{len(problems)} problems in the IDT:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("chapter", halted(WITH_AN_IDT))
def test_idt_lies_in_a_variable_of_the_kernel(halted_kernel):
    # The CPU keeps only the table's address: a table that was a local
    # variable lies in a stack frame that is gone, and the next calls'
    # frames overwrite its gates.
    elf = halted_kernel.elf
    idtr = descriptor_tables.table_register(halted_kernel.registers, "IDT")
    stack = range(elf.symbol("stack_bottom").value, elf.symbol("stack_top").value)
    if elf.variable_holding(idtr.base, idtr.size) is None:
        where = "on the boot stack: is it a local variable?" if idtr.base in stack else "in no variable of kernel.elf"
        pytest.fail(f"IDTR's table at {idtr.base:#x} ({idtr.size} bytes) lies {where}")


@pytest.mark.parametrize("chapter", halted(WITH_A_TSS))
def test_task_register_holds_the_kernels_tss_with_the_double_fault_stack(halted_kernel):
    machine, registers, elf = halted_kernel.machine, halted_kernel.registers, halted_kernel.elf
    gdtr = descriptor_tables.table_register(registers, "GDT")
    problems = descriptor_tables.task_state_segment_problems(
        machine, gdtr, descriptor_tables.read_table(machine, gdtr), registers["TR"],
        elf.object_named_like("task_state_segment").value, Layout.of(elf).double_fault_stack.stop)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", halted(WITH_A_SERIAL_PORT))
def test_uart_is_left_at_115200_baud_8n1(halted_kernel):
    changes = line_settings.history(halted_kernel.machine.qemu_log())
    if not changes:
        pytest.fail("QEMU logged no settings of the UART, not even its reset state: "
                    "does this QEMU lack the trace event serial_update_parameters?")
    if changes[-1] != SERIAL_LINE:
        pytest.fail(f"the UART was left at {changes[-1]}, not {SERIAL_LINE} (QEMU's UART sends at any "
                    f"setting, a real one does not). Its settings, in order: {', '.join(map(str, changes))}")


@pytest.mark.chapter("06")
def test_page_tables_lie_above_the_stack_where_no_overflow_reaches(build):
    # A frame larger than a page can step over the guard page below the
    # stack; the page directory must not be what it lands on.
    elf = ElfFile(build.chapter("06").elf())
    stack_top = elf.symbol("stack_top").value
    below = [name for name in ("pml4", "pdpt", "page_directory") if elf.symbol(name).value < stack_top]
    assert not below, f"{', '.join(below)} below the stack top {stack_top:#x}: a stack overflow reaches them"
