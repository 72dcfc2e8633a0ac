"""Chapter 06, double faults: a stack overflow, and a page fault whose gate
is gone, end in the double fault handler on its own stack, never in a
triple fault.

The double fault report is chapter 5's report (exception_report.h) of
vector 8, preceded by the panic line and followed by what only a double
fault needs (double_fault.cpp):

    KERNEL PANIC at double_fault.cpp:27: double fault
    EXCEPTION 8 #DF Double Fault
      error_code=0x00000000
      rip=0x0000000000102426 <overflow_stack+0x16>
      cs=0x0008 rflags=0x0000000000000006 rsp=0x0000000000109000 ss=0x0000
      rax=0x... (15 general registers, three a line)
      cr2=0x0000000000108ff8 handler_rsp=0x0000000000111f10
      double_fault_stack=0x000000000010e040-0x0000000000112040
      The kernel stack overflowed into its guard page, below 0x0000000000109000.

Each field is checked against an independent witness: the guard page, the
kernel stack and the double fault stack against the ELF's symbol table,
the vector, error code, RIP and registers against QEMU's interrupt log
(-d int), which also shows the chain of exceptions the CPU went through:
a page fault, a second exception while delivering it, then the double
fault, delivered. The handler's own stack pointer must lie inside the
double fault stack: the proof that the CPU switched stacks (IST).

Kernels booted, each once per selection (the test kernels through
ktap.KernelRuns, as every chapter's are):

    double_fault_tests      in-kernel tests: the GDT, TSS and IDT gate as the
                            CPU holds them, the two guard pages, the split of
                            a 2 MiB page, and a stack overflow whose double
                            fault is caught
    page_table_pool         a should-panic test: unmap_page's pool of tables
                            used up, the next split must panic
    unhandled_double_fault  three should-panic tests, each booted alone: an
                            overflow of the kernel stack, one of the double
                            fault stack, and a page fault without gate
    kernel                  `make run`: the overflow's report on screen;
                            booted again through the gdb stub for each play
                            (a TSS far above, the dispatcher handed a copy
                            of the breakpoint's frame, ...)
    and chapter 4's and 5's test kernels, which must still pass; the
    reports of exception_tests are checked as chapter 5 checks its own,
    since this chapter carries copies of the code that prints them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import descriptor_tables
import interrupt_log
import ktap
from chapters import chapter_build
from elf import ElfFile
from gdb_stub import RDI, RSP, GdbStub, GdbStubError
from exception_reports import (Report, check_against_cpu, check_error_code, check_full_report, check_heading,
                               check_screen_shows_the_reports, check_symbol, parse_reports, source_line)
from interrupt_log import DeliveredInterrupt, RaisedException, deliveries
from machine import EXIT_SUCCESS, Machine
from test_05_cpu_exceptions import (EVERY_VECTOR_TEST, KERNEL_MAIN_SOURCES, check_every_run_against_cpu,
                                    check_int_n_report, check_reports_of, play_a_copy_of_the_frame)
from vga_screen import Screen
from x86_exceptions import BREAKPOINT, DOUBLE_FAULT, PAGE_FAULT

CHAPTER = "06-double-faults"
EARLIER_KERNELS = ["unit_tests", "basic_boot", "should_panic", "exception_tests", "unhandled_exception"]
TESTS = ktap.collect(CHAPTER, [ktap.TestKernel(name, EXIT_SUCCESS) for name in
                               ["double_fault_tests", "unhandled_double_fault", "page_table_pool",
                                *EARLIER_KERNELS]])
# The tests take the page fault's gate away by zeroing it: a gate of no
# valid type, for which the SDM and QEMU raise #GP; a gate merely marked not
# present would raise #NP. Either one, raised during a page fault's
# delivery, is a double fault (SDM vol. 3, table 6-5).
MISSING_GATE_FAULTS = {11, 13}
PAGE_FAULT_WRITE = 0b10  # error code: not present, write, kernel mode
UNMAPPED = 0xDEADBEEF  # tests/unhandled_double_fault.cpp
DOUBLE_FAULT_STACK_ALIGNMENT = 16
PAGE_SIZE = 4096
PANIC_COLOUR = 0x4F  # white on red

OVERFLOW_LINE = "The kernel stack overflowed into its guard page, below {:#018x}."
DOUBLE_FAULT_STACK_OVERFLOW_LINE = "The double fault stack overflowed into its guard page, below {:#018x}."
OTHER_CAUSE_LINE = "An exception arrived while the CPU was delivering another."


def panic_line() -> str:
    return f"KERNEL PANIC at {source_line(CHAPTER, 'double_fault.cpp', 'begin_panic(')}: double fault"


# --- where things are, by the ELF's symbol table ----------------------------------


@dataclass(frozen=True)
class Layout:
    """The memory this chapter is about, from the kernel's symbols."""
    kernel_stack_guard: range  # unmapped, two pages
    kernel_stack: range  # grows down from its end
    double_fault_guard_page: range  # unmapped
    double_fault_stack: range  # IST1 points at its end

    @staticmethod
    def of(elf: ElfFile) -> Layout:
        def address(name: str) -> int:
            return elf.symbol(name).value

        # tss.cpp's memory for the double fault stack: its guard page, then the stack.
        stack_memory = elf.object_named_like("double_fault_stack_memory")
        stack_bottom = stack_memory.value + PAGE_SIZE
        return Layout(range(address("stack_guard"), address("stack_bottom")),
                      range(address("stack_bottom"), address("stack_top")),
                      range(stack_memory.value, stack_bottom),
                      range(stack_bottom, stack_memory.value + stack_memory.size))


def test_layout_is_as_the_step_says(chapter):
    """The premises of every check below, from the ELF alone: the kernel
    stack has two page-aligned pages right below it, to be unmapped (one
    would let the CPU push a page fault's frame past it, boot.asm says how),
    the double fault stack one;
    the double fault stack has a 16-byte-aligned top; and neither stack
    nor guard shares memory with the other's."""
    layout = Layout.of(ElfFile(chapter.elf()))
    for guard, stack, pages in ((layout.kernel_stack_guard, layout.kernel_stack, 2),
                                (layout.double_fault_guard_page, layout.double_fault_stack, 1)):
        assert len(guard) == pages * PAGE_SIZE and guard.start % PAGE_SIZE == 0
        assert guard.stop == stack.start
        assert len(stack) >= PAGE_SIZE
    assert layout.double_fault_stack.stop % DOUBLE_FAULT_STACK_ALIGNMENT == 0
    assert (layout.double_fault_stack.stop <= layout.kernel_stack_guard.start
            or layout.double_fault_guard_page.start >= layout.kernel_stack.stop), (
        "the double fault stack and its guard page must not share memory with the kernel stack or its guard page")


# --- checks of a double fault report ------------------------------------------------


def check_double_fault_report(report: Report, layout: Layout, elf: ElfFile, function: str) -> None:
    """Everything a double fault report must say, field by field."""
    check_heading(report, DOUBLE_FAULT)
    check_full_report(report)
    check_error_code(report, {"error_code": "0x00000000"})  # always 0 (SDM 6.15)
    check_symbol(report, elf, function)
    handler_rsp = report.value("handler_rsp")
    assert handler_rsp in layout.double_fault_stack, (
        f"the handler ran on rsp={handler_rsp:#x}, outside the double fault stack "
        f"{layout.double_fault_stack.start:#x}-{layout.double_fault_stack.stop:#x}: no IST switch?\n{report}")
    shown = report.fields["double_fault_stack"]
    expected = f"{layout.double_fault_stack.start:#018x}-{layout.double_fault_stack.stop:#018x}"
    assert shown == expected, f"double_fault_stack={shown}, the ELF says {expected}\n{report}"
    for field in ("cr2", "handler_rsp"):  # 64-bit addresses, shown as every address of the report is
        assert re.fullmatch(r"0x[0-9a-f]{16}", report.fields[field]), f"{field} must be 0x and 16 digits:\n{report}"


def check_overflow(report: Report, guard_page: range, stack: range, last_line: str) -> None:
    """A stack overflow: the faults were in the stack's guard page, the code
    that overflowed stood at the bottom of the stack, and the report says
    in words what happened (last_line, given the stack's bottom)."""
    cr2 = report.value("cr2")
    assert cr2 in guard_page, (
        f"cr2={cr2:#x} must lie in the guard page {guard_page.start:#x}-{guard_page.stop:#x}\n{report}")
    rsp = report.value("rsp")
    assert guard_page.start <= rsp <= stack.start, (
        f"the overflowing code's rsp={rsp:#x} must be at the bottom of its stack "
        f"({stack.start:#x}) or in the guard page below it\n{report}")
    line = "  " + last_line.format(stack.start)
    assert report.lines[-1] == line, f"the report must end with {line!r}:\n{report}"


def check_exception_chain(run_log: str, elf: ElfFile, function: str, first_cr2: range | int, second: set[int],
                          report: Report) -> None:
    """QEMU's log: a page fault (a write, page not present) in `function`;
    while the CPU delivered it, one of `second`; that became the double
    fault, delivered with error code 0; and nothing after it. The report's
    registers are the ones the CPU had when it delivered the double fault."""
    chain = interrupt_log.exceptions(run_log)
    described = "\n".join(f"  {raised} -> {delivered}" for raised, delivered in chain)
    double_fault_deliveries = [d for d in deliveries(run_log) if d.vector == DOUBLE_FAULT]
    assert len(double_fault_deliveries) <= 1, (
        f"the double fault came {len(double_fault_deliveries)} times: did its handler return? The CPU then runs "
        f"the faulting code again; a double fault is an abort, whose handler must end in a panic:\n{described}")
    assert len(chain) == 2, f"expected a page fault, then the exception that made it a double fault:\n{described}"
    (first, first_delivery), (then, double_fault) = chain
    assert first == RaisedException(PAGE_FAULT, None), f"the chain must start with a page fault:\n{described}"
    assert isinstance(first_delivery, DeliveredInterrupt)
    assert first_delivery.error_code == PAGE_FAULT_WRITE, described
    where = elf.function_at(first_delivery.rip) or "unknown"
    assert where.split("+")[0] == function, f"the page fault must be in {function}, not in {where}:\n{described}"
    cr2_ok = first_delivery.cr2 in first_cr2 if isinstance(first_cr2, range) else first_delivery.cr2 == first_cr2
    assert cr2_ok, f"the first page fault's cr2={first_delivery.cr2:#x} is not where it should be:\n{described}"
    assert then.during == PAGE_FAULT and then.vector in second, (
        f"expected {sorted(second)} while the page fault was delivered:\n{described}")
    assert double_fault is not None and double_fault.vector == DOUBLE_FAULT and double_fault.error_code == 0, (
        f"the CPU must deliver a double fault with error code 0:\n{described}")
    assert len(double_fault_deliveries) == 1, (
        f"expected one double fault, QEMU delivered {len(double_fault_deliveries)}")
    check_against_cpu(report, double_fault_deliveries[0], elf)


if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


def elf_of(kernel: str) -> ElfFile:
    return ElfFile(chapter_build(CHAPTER) / f"{kernel}.elf")


# --- in-kernel tests --------------------------------------------------------------------

OVERFLOW_TEST = "double_fault_stack_overflow_runs_the_handler_on_the_ist_stack"
POOL_TEST = "unmap_page_panics_once_no_table_is_left_to_split"


def check_pool_refused(diagnostics: list[str]) -> None:
    """The should-panic test's panic is unmap_page's own, for the page the
    test unmapped once the pool was used up, and comes right after it said
    so: a split that took a table from past the pool's end returns instead,
    and one that broke memory there panics later, or elsewhere."""
    said = [(n, match[1]) for n, line in enumerate(diagnostics)
            if (match := re.fullmatch(r"no table is left: unmapping (0x[0-9a-f]{16}) must panic", line))]
    assert len(said) == 1, f"{POOL_TEST} must say once which page it unmaps last:\n" + "\n".join(diagnostics)
    (at, page), = said
    panic = (f"KERNEL PANIC at {source_line(CHAPTER, 'paging.cpp', 'no page table left to split')}: "
             f"no page table left to split the 2 MiB page of {page}")
    following = diagnostics[at + 1:at + 2]
    assert following == [panic], f"expected unmap_page's panic {panic!r}, got {following}:\n" + "\n".join(diagnostics)


@pytest.mark.parametrize("kernel, test", TESTS.params_of("double_fault_tests"))
def test_in_kernel(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel, test: ktap.DeclaredTest):
    """The in-kernel test passed; the one that overflows the stack printed
    the report of a double fault it caught, right field by field. (A triple
    fault later in the run is the whole run's failure, not this test's:
    test_double_fault_tests_exit_without_triple_fault.)"""
    run = kernel_runs.run_of(kernel, test)
    result = ktap.check_passed(run, test)
    reports = parse_reports(result.diagnostics)
    test = test.name
    if test != OVERFLOW_TEST:
        assert not reports, f"{test} raised no exception on purpose, yet reported:\n" + "\n".join(map(str, reports))
        return
    assert len(reports) == 1, f"{test} must print exactly one report, printed {len(reports)}"
    report = reports[0]
    check_heading(report, DOUBLE_FAULT)
    check_full_report(report)
    check_error_code(report, {"error_code": "0x00000000"})
    elf = elf_of("double_fault_tests")
    check_symbol(report, elf, "overflow_stack")
    layout = Layout.of(elf)
    assert layout.kernel_stack_guard.start <= report.value("rsp") <= layout.kernel_stack.start, (
        f"the overflowing code's rsp must be at the bottom of the kernel stack:\n{report}")
    delivered = [d for d in deliveries(run.qemu_log) if d.vector == DOUBLE_FAULT and not d.software]
    assert len(delivered) == 1, f"QEMU delivered {len(delivered)} double faults, the kernel caused one"
    check_against_cpu(report, delivered[0], elf)


@pytest.mark.parametrize("kernel, test", TESTS.params_of("page_table_pool"))
def test_page_table_pool_refuses_the_split_past_its_end(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                                                        test: ktap.DeclaredTest):
    """unmap_page, with every table of its pool in use, panics for the next
    split (tests/page_table_pool.cpp)."""
    assert test.name == POOL_TEST, f"page_table_pool declares {test.name}, which this module does not know"
    check_pool_refused(ktap.check_passed(kernel_runs.run_of(kernel, test), test).diagnostics)


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(["double_fault_tests"]))
def test_double_fault_tests_exit_without_triple_fault(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    ktap.check_every_run_passed(kernel_runs, kernel)


# --- double faults nobody expects: the handler's report, then a panic -----------------------

@dataclass(frozen=True)
class Unhandled:
    function: str  # where the first page fault happened
    second: set[int]  # the exception raised while the page fault was delivered
    overflowed: str | None  # the stack that overflowed: "kernel", "double fault" or none


UNHANDLED_EXPECTED = {
    "double_fault_after_stack_overflow_panics": Unhandled("overflow_stack", {PAGE_FAULT}, "kernel"),
    "double_fault_after_double_fault_stack_overflow_panics": Unhandled(
        "overflow_double_fault_stack", {PAGE_FAULT}, "double fault"),
    "double_fault_after_page_fault_without_handler_panics": Unhandled(
        "write_to_unmapped_memory", MISSING_GATE_FAULTS, None),
}


def test_unhandled_double_fault_declares_the_expected_tests():
    declared = TESTS.declared.get("unhandled_double_fault", [])
    assert sorted(test.name for test in declared) == sorted(UNHANDLED_EXPECTED)
    assert all(test.ending == "panics" for test in declared), "each must end in the handler's panic"


@pytest.mark.parametrize("kernel, test", TESTS.params_of("unhandled_double_fault"))
def test_unhandled_double_fault_reports_and_panics(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                                                   test: ktap.DeclaredTest):
    """The kernel's own double fault handler runs on the double fault stack,
    prints its report once, in the panic message, and panics; the runner
    counts the panic as the test's success. Booted alone: a panic ends the
    run."""
    run = kernel_runs.run_of(kernel, test)
    result = ktap.check_passed(run, test)
    test = test.name
    expected = UNHANDLED_EXPECTED.get(test)
    assert expected is not None, f"the kernel declares {test}, which this module does not know"
    assert not run.triple_faulted, f"{test} triple-faulted\n{run.serial_tail()}"
    assert panic_line() in result.diagnostics, f"expected the line {panic_line()!r}\n{run.serial_tail()}"
    reports = parse_reports(result.diagnostics)
    assert len(reports) == 1, f"expected one report, got {len(reports)}\n{run.serial_tail()}"
    report = reports[0]
    assert result.diagnostics.index(panic_line()) + 1 == result.diagnostics.index(report.lines[0]), (
        "the report must follow the panic line")
    elf = elf_of("unhandled_double_fault")
    layout = Layout.of(elf)
    check_double_fault_report(report, layout, elf, expected.function)
    if expected.overflowed == "kernel":
        check_overflow(report, layout.kernel_stack_guard, layout.kernel_stack, OVERFLOW_LINE)
        check_exception_chain(run.qemu_log, elf, expected.function, layout.kernel_stack_guard, expected.second, report)
    elif expected.overflowed == "double fault":
        check_overflow(report, layout.double_fault_guard_page, layout.double_fault_stack,
                       DOUBLE_FAULT_STACK_OVERFLOW_LINE)
        check_exception_chain(run.qemu_log, elf, expected.function, layout.double_fault_guard_page,
                              expected.second, report)
    else:
        assert report.value("cr2") == UNMAPPED, f"cr2 must be the unmapped address {UNMAPPED:#x}:\n{report}"
        assert report.lines[-1] == "  " + OTHER_CAUSE_LINE, f"the report must end with {OTHER_CAUSE_LINE!r}"
        check_exception_chain(run.qemu_log, elf, expected.function, UNMAPPED, expected.second, report)
    assert run.exit_status == EXIT_SUCCESS, f"exit status {run.exit_status}\n{run.serial_tail()}"


# --- the kernel of `make run` -----------------------------------------------------------------


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter(CHAPTER)


def range_line(name: str, memory: range) -> str:
    return f"{name:26} {memory.start:#018x}-{memory.stop:#018x}"


def test_normal_kernel_shows_the_double_fault_on_screen(boot, chapter):
    """`make run`: a breakpoint still returns, then the kernel overflows its
    stack on purpose; the double fault report appears on serial and on the
    screen alike, in the panic's colours, and the kernel halts."""
    machine = boot(chapter.iso())
    # The whole last line, to its end: the CPU halts as the UART sends it,
    # and a line read half would fail the check of its text below.
    machine.wait_for_serial(r"^  The kernel stack overflowed.*\n")
    machine.wait_until_halted_in("halt_forever")
    assert not machine.triple_faulted
    elf = ElfFile(chapter.elf())
    layout = Layout.of(elf)

    serial = machine.serial_lines
    reports = parse_reports(serial)
    assert [r.vector for r in reports] == [BREAKPOINT, DOUBLE_FAULT], (
        "expected the breakpoint's report, then the double fault's:\n" + "\n".join(serial))
    assert "It did not crash: the breakpoint handler returned." in serial[serial.index(reports[0].lines[0]):], (
        "expected on serial, after the breakpoint's report, that the kernel went on:\n" + "\n".join(serial))
    double_fault = reports[1]
    check_double_fault_report(double_fault, layout, elf, "overflow_stack")
    check_overflow(double_fault, layout.kernel_stack_guard, layout.kernel_stack, OVERFLOW_LINE)
    check_exception_chain(machine.qemu_log(), elf, "overflow_stack", layout.kernel_stack_guard, {PAGE_FAULT}, double_fault)

    screen: Screen = machine.screen()
    screen.expect_contains([
        "It did not crash: the breakpoint handler returned.",
        range_line("Guard pages (unmapped):", layout.kernel_stack_guard),
        range_line("Kernel stack:", layout.kernel_stack),
        range_line("Double fault stack (IST1):", layout.double_fault_stack),
        "Overflowing the kernel stack on purpose...",
        panic_line(),
        "  " + OVERFLOW_LINE.format(layout.kernel_stack.start),
    ])
    panic_row = screen.lines().index(panic_line())
    screen.expect_text(panic_row, 0, panic_line(), PANIC_COLOUR)
    check_screen_shows_the_reports(screen, reports)


def the_kernels_final_halt(machine: Machine) -> object:
    """How the chapter's kernel ends: halted for good in halt_forever."""
    return machine.wait_until_halted_in("halt_forever")


# How each kernel_main's kernel ends, for a play that missed its stop.
KERNEL_ENDS: dict[str, Callable[[Machine], object]] = {
    "kernel": the_kernels_final_halt,
    "basic_boot": Machine.expect_exit_success,
}


@pytest.mark.parametrize("kernel", KERNEL_MAIN_SOURCES)
def test_kernel_main_loads_its_idt_before_its_gdt_and_tss(boot, chapter, stub, kernel):
    """As in chapter 5 (test_kernel_main_loads_its_idt_before_anything_else_runs):
    kernel_main's second call, load_gdt_and_tss, is where a wrong
    descriptor faults, and its #GP must find the kernel's gates."""
    machine = boot(chapter.iso(kernel), qemu_args=stub.qemu_arguments(), timeout=10)
    problems = descriptor_tables.idt_problems_as_kernel_main_calls(machine, stub, "load_gdt_and_tss",
                                                                    source=KERNEL_MAIN_SOURCES[kernel])
    assert not problems, "\n".join(problems)


def test_code_segment_is_loaded_from_the_kernels_gdt(boot, chapter, stub):
    """LGDT changes no segment register: CS keeps the copy of the
    descriptor it was loaded with, from boot.asm's table, until CS is
    loaded again (gdt.cpp). The first interrupt loads it, so at the final
    halt CS looks right whether or not the kernel loaded it; the test reads
    CS's copy when load_gdt_and_tss has returned, before anything else ran.
    boot.asm's code segment is not readable and the kernel's is, so a copy
    of boot.asm's descriptor differs in its type."""
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    run_to_or_diagnose(machine, stub, "load_gdt_and_tss")
    run_to_its_return(stub)
    registers = machine.registers()
    stub.detach()
    gdtr = descriptor_tables.table_register(registers, "GDT")
    problems = descriptor_tables.code_segment_copy_problems(gdtr, descriptor_tables.read_table(machine, gdtr),
                                                            registers)
    assert not problems, (f"after load_gdt_and_tss, {'; '.join(problems)}: CS was not loaded again after lgdt "
                          "(reload_code_segment), or was loaded before it")


def run_to_or_diagnose(machine: Machine, stub: GdbStub, function: str,
                       wait_for_the_end: Callable[[Machine], object] = the_kernels_final_halt) -> None:
    """Stops the CPU as it enters function, through the gdb stub. A kernel
    that never gets there is let go and waited for as the test would wait
    for its end (wait_for_the_end, the chapter's kernel's unless given),
    which fails with the boot's verdict: a triple fault, a hang, a halt
    elsewhere. One that ends as expected all the same fails here."""
    try:
        stub.run_to(machine.elf.function_named_like(function).value)
        return
    except GdbStubError as error:
        missed = error
    stub.detach()
    wait_for_the_end(machine)
    pytest.fail(f"the kernel never entered {function} ({missed})")


def run_to_its_return(stub: GdbStub) -> None:
    """With the CPU stopped as a function is entered: runs it until it
    returns, to the address its call pushed, whatever the caller calls
    next (a kernel_main with its calls in another order is another test's
    failure)."""
    stub.run_to(int.from_bytes(stub.read_memory(stub.read_register(RSP), 8), "little"))


def test_dispatcher_reads_the_frame_through_the_pointer_the_stub_passes(boot, chapter, stub):
    """As in chapter 5 (its test of the same name): a dispatch_exception
    that takes the ExceptionFrame by value reads the copy the System V ABI
    places above its return address, which is the stub's frame today, so
    every report looks right. At kernel_main's breakpoint it is handed a
    copy with another RIP instead, at the bottom of the kernel stack, which
    nothing reaches before the overflow."""
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    run_to_or_diagnose(machine, stub, "dispatch_exception")
    play_a_copy_of_the_frame(machine, stub, played_function="overflow_stack")


@pytest.mark.parametrize("kernel", KERNEL_MAIN_SOURCES)
def test_double_fault_handler_is_set_up_once_the_tss_is_loaded(boot, chapter, stub, kernel):
    """initialize_double_fault_handler gives vector 8's gate IST1, which
    the CPU looks up in the TSS the task register holds at that moment
    (double_fault.h: call it after load_gdt_and_tss). Set up before, the
    gate names a stack in whatever TSS the loader left, and a double fault
    in between resets the machine; none comes there, so at the final halt
    the two orders look alike. The test stops the kernel as its kernel_main
    calls initialize_double_fault_handler and reads the GDT, the task
    register and the TSS there, as test_boot_state.py does at the halt."""
    machine = boot(chapter.iso(kernel), qemu_args=stub.qemu_arguments(), timeout=10)
    run_to_or_diagnose(machine, stub, "initialize_double_fault_handler", KERNEL_ENDS[kernel])
    registers = machine.registers()
    gdtr = descriptor_tables.table_register(registers, "GDT")
    problems = descriptor_tables.task_state_segment_problems(
        machine, gdtr, descriptor_tables.read_table(machine, gdtr), registers["TR"],
        machine.elf.object_named_like("task_state_segment").value, Layout.of(machine.elf).double_fault_stack.stop)
    stub.detach()
    assert not problems, (
        f"{KERNEL_MAIN_SOURCES[kernel]}'s kernel_main called initialize_double_fault_handler before the kernel's "
        "TSS was loaded: until load_gdt_and_tss, the double fault's gate names IST1 of whatever TSS the loader "
        "left. Call it after (double_fault.h). As it was called, " + "; ".join(problems))


# A TSS address of a higher-half kernel, a different byte in each of the
# four parts the descriptor spreads the base over. Canonical: bits 48-63
# repeat bit 47, as LTR demands.
HIGHER_HALF_TASK_STATE_SEGMENT = 0xFFFF_8A5B_4C3D_2E10


def test_tss_descriptor_holds_every_bit_of_the_tss_base(boot, chapter, stub):
    """The kernel's TSS lies below 16 MiB, where base bits 24-63 are zero:
    a descriptor that put them in the wrong place, or left out the upper
    half, would describe it all the same. So the test gives
    load_gdt_and_tss the address of a TSS far above (RDI, its argument, as
    it is entered), lets it run and reads the base LTR took into the task
    register, the CPU's own reading of the descriptor. LTR reads no byte
    of the TSS itself; the test stops the CPU before anything could."""
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    kernels_task_state_segment = machine.elf.object_named_like("task_state_segment").value
    run_to_or_diagnose(machine, stub, "load_gdt_and_tss")
    stub.write_register(RDI, HIGHER_HALF_TASK_STATE_SEGMENT)
    run_to_its_return(stub)
    registers = machine.registers()
    stub.detach()
    base = descriptor_tables.task_register_base(registers)
    assert base != kernels_task_state_segment, (
        f"load_gdt_and_tss was given a TSS at {HIGHER_HALF_TASK_STATE_SEGMENT:#018x}, yet the task register holds "
        f"the kernel's own at {base:#018x}: the descriptor must describe the TSS it is given")
    assert base == HIGHER_HALF_TASK_STATE_SEGMENT, (
        f"load_gdt_and_tss was given a TSS at {HIGHER_HALF_TASK_STATE_SEGMENT:#018x}, but LTR read the base "
        f"{base:#018x} from its descriptor (bits {base ^ HIGHER_HALF_TASK_STATE_SEGMENT:#x} differ): the base "
        "goes to descriptor bits 16-39 (base 23:0), 56-63 (base 31:24) and, in the second 8 bytes, 0-31 "
        "(base 63:32); see TaskStateSegmentDescriptor in gdt.h")


def test_handler_rsp_is_the_handlers_stack_pointer(boot, chapter, stub):
    """The report's handler_rsp is the stack pointer the handler runs with.
    Any register that points into the double fault stack passes the check
    that the CPU switched stacks; RBP, the frame pointer, does too, but it
    points at the top of the handler's frame, above the stack pointer. The
    test stops the CPU where report_double_fault calls begin_panic: RSP + 8
    (above the return address the call pushed) is the handler's own RSP,
    and no stack pointer of the handler, or of a function it calls, lies
    above it."""
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    run_to_or_diagnose(machine, stub, "begin_panic")
    rsp = stub.read_register(RSP)
    return_address = int.from_bytes(stub.read_memory(rsp, 8), "little")
    stub.detach()
    handler = machine.elf.function_named_like("report_double_fault")
    assert handler.contains(return_address), (
        f"the first panic must come from report_double_fault, but begin_panic returns to "
        f"{machine.elf.function_at(return_address)}")
    machine.wait_for_serial(r"^  The kernel stack overflowed.*\n")
    reports = [r for r in parse_reports(machine.serial_lines) if r.vector == DOUBLE_FAULT]
    assert len(reports) == 1, "expected one double fault report on serial:\n" + "\n".join(machine.serial_lines)
    handler_rsp, handler_stack_pointer = reports[0].value("handler_rsp"), rsp + 8
    assert handler_rsp <= handler_stack_pointer, (
        f"handler_rsp={handler_rsp:#x}, but the handler ran with RSP={handler_stack_pointer:#x}: the report shows "
        f"an address {handler_rsp - handler_stack_pointer:#x} bytes above the stack pointer, in the handler's frame "
        f"or its callers'. Is it RBP, the frame pointer?\n{reports[0]}")


# --- chapter 5's exception_tests, with this chapter's copy of the exception code ----------


@pytest.mark.parametrize("kernel, test", TESTS.params_of("exception_tests"))
def test_exception_tests_report_is_right_field_by_field(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                                                         test: ktap.DeclaredTest):
    """This chapter carries chapter 5's exception code and tests in copies of
    its own: each report is checked as chapter 5 checks its own
    (test_05_cpu_exceptions.py), so that a mistake made in this chapter's
    copy fails here."""
    result = ktap.check_passed(kernel_runs.run_of(kernel, test), test)
    reports = parse_reports(result.diagnostics)
    elf = elf_of("exception_tests")
    if test.name != EVERY_VECTOR_TEST:
        check_reports_of(test.name, reports, elf)
        return
    assert [r.vector for r in reports] == list(range(32)), "expected one report per vector, 0 to 31, in order"
    for vector, report in enumerate(reports):
        check_int_n_report(report, vector, elf)


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(["exception_tests"]))
def test_exception_tests_reports_agree_with_the_cpu(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    check_every_run_against_cpu(kernel_runs, kernel, elf_of("exception_tests"))


# --- the earlier chapters' test kernels, now with the GDT, TSS and guard page --------------


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(EARLIER_KERNELS))
def test_earlier_test_kernel_still_passes(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    ktap.check_every_run_passed(kernel_runs, kernel)
