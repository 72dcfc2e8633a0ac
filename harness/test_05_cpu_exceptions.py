"""Chapter 05, CPU exceptions: the kernel's exception reports, checked field
by field against what the CPU really did (exception_reports.py shows a
report and reads it).

Three kernels boot, once each (the test kernels through ktap.KernelRuns,
as chapter 04's do, with chapter 04's own test kernels besides):

    exception_tests      in-kernel tests that raise exceptions on purpose and
                         catch them (tests/expect_exception.h); the report of
                         each caught exception goes to serial as diagnostics
    unhandled_exception  a page fault nobody expects: report, then panic
    kernel               what `make run` shows: a breakpoint that returns,
                         "did not crash", then a page fault report on screen;
                         booted twice more through the gdb stub: to read
                         IDTR as kernel_main's second call begins, and to
                         hand the dispatcher a copy of the breakpoint's frame

Each in-kernel test is a pytest item of its own, which also checks the
report its exception produced: vector, mnemonic and name (from this file's
own copy of the SDM's table, not the kernel's), the error code and its
decoding, CR2, and the function named for RIP (against the ELF's symbol
table, read here with elf.py). `int N` for each of the 32 vectors is an item
per vector. And every report is compared with QEMU's interrupt log
(-d int), which records the vector, error code, CR2 and all registers at the
moment the CPU delivered each exception: the kernel's register dump must
show the same values. No boot may triple-fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import descriptor_tables
import ktap
from chapters import chapter_build
from elf import ElfFile
from exception_reports import (Report, check_all_against_cpu, check_error_code, check_full_report, check_heading,
                               check_screen_shows_the_reports, check_symbol, parse_reports, source_line)
from gdb_stub import RDI, GdbStub
from machine import EXIT_SUCCESS, Machine
from x86_exceptions import BREAKPOINT, ERROR_CODE_VECTORS, PAGE_FAULT, SELECTOR_ERROR_CODE_VECTORS

CHAPTER = "05-cpu-exceptions"
CHAPTER_4_KERNELS = ["unit_tests", "basic_boot", "should_panic"]
TESTS = ktap.collect(CHAPTER, [ktap.TestKernel(name, EXIT_SUCCESS)
                               for name in ["exception_tests", "unhandled_exception", *CHAPTER_4_KERNELS]])

if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


@pytest.fixture(scope="module")
def elf() -> ElfFile:
    return ElfFile(chapter_build(CHAPTER) / "exception_tests.elf")


# --- the exceptions the in-kernel tests raise -----------------------------------


@dataclass(frozen=True)
class Expected:
    vector: int
    # The fields that show the error code, or a list of the ways they may
    # be right.
    error_code: dict[str, str] | list[dict[str, str]] = field(default_factory=dict)
    cr2: int | None = None
    function: str | None = None  # the function at RIP; None: no function there
    code: bytes | None = None  # the instruction at RIP, as kernel.elf holds it
    rip: int | None = None


def page_fault_bits(error_code: int) -> dict[str, str]:
    return {"error_code": f"{error_code:#010x}",
            **{name: str(error_code >> bit & 1) for bit, name in
               enumerate(("present", "write", "user", "reserved_bit", "instruction_fetch"))}}


UNMAPPED = 0xDEADBEEF
UNMAPPED_CODE = 0xDEAD0000
LAST_HUGE_PAGE = 0x3FE00000  # the tests set a reserved bit in the entry that maps it, or make it read-only
IDENTITY_MAP_END = 0x40000000  # boot.asm maps the first GiB

EXPECTED = {
    "exceptions_divide_error": Expected(0, function="raise_divide_error", code=b"\xf7\xf1"),  # div ecx
    "exceptions_invalid_opcode": Expected(6, function="raise_invalid_opcode", code=b"\x0f\x0b"),  # ud2
    "exceptions_general_protection_selector": Expected(
        13, {"error_code": "0x00000320", "external": "0", "table": "GDT", "index": "100"},
        function="raise_general_protection_with_selector"),
    # Index 0, and still a selector: TI=1, the LDT's first descriptor.
    "exceptions_general_protection_ldt_selector": Expected(
        13, {"error_code": "0x00000004", "external": "0", "table": "LDT", "index": "0"},
        function="raise_general_protection_ldt_selector"),
    # Gate 128, which is all zero: the SDM puts the vector in the index,
    # QEMU 7.2 twice the vector (error_codes.h). RIP points at the `int
    # 0x80`, which never ran.
    "exceptions_general_protection_absent_gate": Expected(
        13, [{"error_code": "0x00000402", "external": "0", "table": "IDT", "index": "128"},
             {"error_code": "0x00000802", "external": "0", "table": "IDT", "index": "256"}],
        function="raise_general_protection_absent_gate", code=b"\xcd\x80"),
    "exceptions_general_protection_non_canonical": Expected(
        13, {"error_code": "0x00000000", "selector": "none"}, function="raise_general_protection_non_canonical"),
    "exceptions_page_fault_read": Expected(14, page_fault_bits(0b00000), UNMAPPED, "read_unmapped_memory"),
    "exceptions_page_fault_write": Expected(14, page_fault_bits(0b00010), UNMAPPED, "write_unmapped_memory"),
    # The SDM sets P with RSVD (reserved bits count in present entries
    # only); QEMU 7.2 does not.
    "exceptions_page_fault_reserved_bit": Expected(14, [page_fault_bits(0b01001), page_fault_bits(0b01000)],
                                                   LAST_HUGE_PAGE, "read_last_huge_page"),
    # The only page fault of a present page: P=1.
    "exceptions_page_fault_write_read_only": Expected(14, page_fault_bits(0b00011), LAST_HUGE_PAGE,
                                                      "write_last_huge_page"),
    "exceptions_page_fault_instruction_fetch": Expected(14, page_fault_bits(0b10000), UNMAPPED_CODE, None,
                                                        rip=UNMAPPED_CODE),
    # Only the byte at the end faults, not the one before it.
    "exceptions_page_fault_where_the_identity_map_ends": Expected(14, page_fault_bits(0b00000), IDENTITY_MAP_END,
                                                                  "read_first_byte_past_the_identity_map"),
}
BREAKPOINT_TEST = "exceptions_breakpoint_returns_and_execution_continues"
EVERY_VECTOR_TEST = "exceptions_every_vector_reaches_its_handler"


@pytest.mark.parametrize("kernel, test", TESTS.params_of("exception_tests"))
def test_in_kernel(kernel_runs: ktap.KernelRuns, elf: ElfFile, kernel: ktap.TestKernel, test: ktap.DeclaredTest):
    """The in-kernel test passed, and the report of its exception is right
    field by field."""
    result = ktap.check_passed(kernel_runs.run_of(kernel, test), test)
    reports = parse_reports(result.diagnostics)
    if test.name == EVERY_VECTOR_TEST:
        assert [r.vector for r in reports] == list(range(32)), "expected one report per vector, 0 to 31, in order"
        return  # each vector is an item of its own: test_int_n_reaches_its_handler
    check_reports_of(test.name, reports, elf)


def check_reports_of(test: str, reports: list[Report], elf: ElfFile) -> None:
    """The one report an in-kernel test of exception_tests printed (all but
    EVERY_VECTOR_TEST's), field by field. Chapter 6 checks its copy of the
    kernel with it too."""
    __tracebackhide__ = True
    assert len(reports) == 1, f"{test} must print exactly one report, printed {len(reports)}:\n" + "\n".join(
        str(r) for r in reports)
    report = reports[0]
    if test == BREAKPOINT_TEST:
        # The kernel's own breakpoint handler: one line, and the code goes on.
        check_heading(report, BREAKPOINT)
        assert report.short, f"a breakpoint gets the one-line report:\n{report}"
        assert elf.initial_bytes(report.rip - 1, 1) == b"\xcc", f"no int3 before rip:\n{report}"
        assert report.symbol == elf.function_at(report.rip) and test in report.symbol, (
            f"expected rip in the test function, by the ELF {elf.function_at(report.rip)}:\n{report}")
        return
    expected = EXPECTED[test]
    check_heading(report, expected.vector)
    check_full_report(report)
    check_error_code(report, expected.error_code)
    if expected.cr2 is not None:
        assert report.value("cr2") == expected.cr2, f"expected cr2={expected.cr2:#018x}:\n{report}"
    else:
        check_no_cr2(report)
    if expected.rip is not None:
        assert report.rip == expected.rip, f"expected rip={expected.rip:#018x}:\n{report}"
    check_symbol(report, elf, expected.function)
    if expected.code is not None:
        assert elf.initial_bytes(report.rip, len(expected.code)) == expected.code, (
            f"rip must point at the faulting instruction {expected.code.hex(' ')}:\n{report}")


def every_vector_params() -> list:
    """(kernel, test, vector) for each vector: the items of one in-kernel
    test, on the worker that boots its kernel."""
    params = TESTS.params_of("exception_tests")
    every_vector = [param for param in params if param.values[1].name == EVERY_VECTOR_TEST]
    if not every_vector:
        return [pytest.param(None, None, vector, id=str(vector)) for vector in range(32)]
    kernel, test = every_vector[0].values
    return [pytest.param(kernel, test, vector, id=str(vector), marks=TESTS.same_worker(kernel))
            for vector in range(32)]


@pytest.mark.parametrize("kernel, test, vector", every_vector_params())
def test_int_n_reaches_its_handler(kernel_runs: ktap.KernelRuns, elf: ElfFile, kernel: ktap.TestKernel | None,
                                   test: ktap.DeclaredTest | None, vector: int):
    """`int N` reaches vector N's handler, whose report names the exception.
    The CPU pushes no error code for `int N` (SDM 6.13), even on vectors
    that have one; the stub must notice, or the whole frame is misread.

    Each vector's report is judged on its own, also when the in-kernel test
    failed (its own item carries the kernel's verdict, once): a stub that
    misreads its frame fails the items of its vectors, and the vectors the
    kernel never reached are not run, naming that item."""
    if test is None:
        pytest.fail(f"the test kernel declares no {EVERY_VECTOR_TEST}")
    result = ktap.reported(kernel_runs.run_of(kernel, test), test)
    # A report after a panic is of what went wrong in the panic, not of an
    # `int N`.
    panic = next((at for at, line in enumerate(result.diagnostics) if line.startswith("KERNEL PANIC")),
                 len(result.diagnostics))
    reports = parse_reports(result.diagnostics[:panic])
    report = next((r for r in reports if r.vector == vector), None)
    if report is None and not result.ok and vector > max((r.vector for r in reports), default=-1):
        pytest.skip(f"not run: {test.name} failed before it raised vector {vector} "
                    f"(reported by test_in_kernel[{kernel.name}-{test.name}])")
    assert report is not None, f"no report for vector {vector}; the reports are for {[r.vector for r in reports]}"
    check_int_n_report(report, vector, elf)


def check_int_n_report(report: Report, vector: int, elf: ElfFile) -> None:
    """The report of EVERY_VECTOR_TEST's `int N` for one vector, field by
    field (chapter 6 checks its copy with it too)."""
    __tracebackhide__ = True
    check_heading(report, vector)
    # EVERY_VECTOR_TEST loads the general registers before `int N` and
    # checks the frame's itself: their lines are in the report only when
    # one differs.
    check_full_report(report, general_registers_checked_by_the_kernel=True)
    if vector in SELECTOR_ERROR_CODE_VECTORS:
        check_error_code(report, {"error_code": "0x00000000", "selector": "none"})
    elif vector == PAGE_FAULT:
        check_error_code(report, page_fault_bits(0))
    elif vector in ERROR_CODE_VECTORS:
        check_error_code(report, {"error_code": "0x00000000"})
    if vector != PAGE_FAULT:
        check_no_cr2(report)
    assert elf.initial_bytes(report.rip - 2, 2) == bytes([0xCD, vector]), (
        f"rip must point just past `int {vector}` (cd {vector:02x}):\n{report}")
    check_symbol(report, elf, report.symbol.split("+")[0])
    assert "software_interrupt" in report.symbol, f"expected rip in software_interrupt<{vector}>:\n{report}"


def check_no_cr2(report: Report) -> None:
    """Only a page fault sets CR2: in the report of any other exception a
    cr2 field shows a stale address, left by whatever page fault came
    before. (Chapter 6's double fault report adds CR2 on purpose, with the
    cause it points to, so check_full_report does not check this.)"""
    __tracebackhide__ = True
    assert "cr2" not in report.fields, f"only a page fault's report shows cr2:\n{report}"


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(["exception_tests"]))
def test_exception_tests_reports_agree_with_the_cpu(kernel_runs: ktap.KernelRuns, elf: ElfFile,
                                                    kernel: ktap.TestKernel):
    """Each report, in the order the kernel printed them, against QEMU's log
    of what the CPU delivered: vector, RIP, error code, CR2, RSP, RFLAGS
    and every general register (the reports of EVERY_VECTOR_TEST show
    them only where one is not what the test loaded)."""
    check_every_run_against_cpu(kernel_runs, kernel, elf)


def check_every_run_against_cpu(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel, elf: ElfFile) -> None:
    """test_exception_tests_reports_agree_with_the_cpu's check, which
    chapter 6 makes of its copy too; `elf` is the kernel's."""
    __tracebackhide__ = True
    for _, run in kernel_runs.all_runs(kernel):
        run.raise_failure_once(f"the reports of {kernel.name}")
        check_all_against_cpu(parse_reports(ktap_diagnostics(run.serial)), run.qemu_log, elf,
                              general_registers_checked_by_the_kernel=True)


def ktap_diagnostics(serial: str) -> list[str]:
    return [line[2:] for line in serial.replace("\r", "").split("\n") if line.startswith("# ")]


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(["exception_tests"]))
def test_exception_tests_exit_without_triple_fault(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    ktap.check_every_run_passed(kernel_runs, kernel)


# --- an exception nobody expects: one report, then a panic ------------------------


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(["unhandled_exception"]))
def test_unhandled_exception_reports_and_panics(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    """The should-panic test kernel: its page fault is not caught, so the
    kernel's handler reports it once, in the panic message, and panics;
    the runner counts the panic as the test's success."""
    [(group, run)] = kernel_runs.all_runs(kernel)
    ktap.check_whole_run(run, group)
    result = ktap.check_passed(run, ktap.DeclaredTest("exceptions_unhandled_page_fault_panics", "panics"))
    panic = f"KERNEL PANIC at {source_line(CHAPTER, 'exceptions.cpp', 'begin_panic(')}: unhandled CPU exception"
    assert panic in result.diagnostics, f"expected the line {panic!r}\n{run.serial_tail()}"
    reports = parse_reports(result.diagnostics)
    assert len(reports) == 1, f"expected one report, got {len(reports)}\n{run.serial_tail()}"
    report = reports[0]
    assert result.diagnostics.index(panic) + 1 == result.diagnostics.index(report.lines[0]), (
        "the report must follow the panic line")
    check_heading(report, PAGE_FAULT)
    check_full_report(report)
    check_error_code(report, page_fault_bits(0b00010))
    assert report.value("cr2") == UNMAPPED
    elf = ElfFile(chapter_build(CHAPTER) / "unhandled_exception.elf")
    check_symbol(report, elf, "write_to_unmapped_memory")
    check_all_against_cpu(reports, run.qemu_log, elf)


# --- the kernel of `make run` --------------------------------------------------------


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter(CHAPTER)


def test_normal_kernel_shows_breakpoint_then_fault_report(boot, chapter):
    """int3 is reported and the kernel goes on; then the page fault it
    causes on purpose is reported, on screen and serial alike, and the
    kernel halts in the panic."""
    machine = boot(chapter.iso())
    machine.wait_for_serial(r"^EXCEPTION 14 ")
    machine.wait_for_serial(r"^  r13=.* r15=0x[0-9a-f]{16}$")  # the report's last line
    machine.wait_until_halted_in("halt_forever")
    assert not machine.triple_faulted
    elf = ElfFile(chapter.elf())

    serial = machine.serial_lines
    reports = parse_reports(serial)
    assert [r.vector for r in reports] == [BREAKPOINT, PAGE_FAULT], (
        "expected the breakpoint's report, then the page fault's:\n" + "\n".join(serial))
    breakpoint_report, fault = reports
    check_heading(breakpoint_report, BREAKPOINT)
    assert breakpoint_report.short and breakpoint_report.symbol.startswith("kernel_main+")
    assert serial.index("It did not crash: the breakpoint handler returned.") > serial.index(breakpoint_report.lines[0])
    check_heading(fault, PAGE_FAULT)
    check_full_report(fault)
    check_error_code(fault, page_fault_bits(0b00010))
    assert fault.value("cr2") == UNMAPPED
    check_symbol(fault, elf, "write_to_unmapped_memory")
    check_all_against_cpu(reports, machine.qemu_log(), elf)

    # The screen shows the same, field for field.
    screen = machine.screen()
    screen.expect_contains(["It did not crash: the breakpoint handler returned.",
                            f"KERNEL PANIC at {source_line(CHAPTER, 'exceptions.cpp', 'begin_panic(')}: unhandled CPU exception"])
    check_screen_shows_the_reports(screen, reports)


# The chapter's two kernel_main functions: main.cpp's, and test_main.cpp's,
# which every test kernel runs; chapter 6 has the same two.
KERNEL_MAIN_SOURCES = {"kernel": "main.cpp", "basic_boot": "test_main.cpp"}


@pytest.mark.parametrize("kernel", KERNEL_MAIN_SOURCES)
def test_kernel_main_loads_its_idt_before_anything_else_runs(boot, stub, chapter, kernel):
    """kernel_main installs the exception handlers first, so that a fault
    in what comes next (the serial port, the boot information, the symbol
    table) is reported instead of resetting the machine: until the kernel
    loads its IDT, IDTR holds what the loader left (GRUB: an empty table,
    base 0 and limit 0). The test stops the kernel as it enters
    initialize_serial_console, the first call after, and reads IDTR
    there: it must hold the kernel's own table, a variable of kernel.elf
    of 256 gates."""
    machine = boot(chapter.iso(kernel), qemu_args=stub.qemu_arguments(), timeout=10)
    problems = descriptor_tables.idt_problems_as_kernel_main_calls(machine, stub, "initialize_serial_console",
                                                                    source=KERNEL_MAIN_SOURCES[kernel])
    assert not problems, "\n".join(problems)


# ExceptionFrame (exception_frame.h): 22 quadwords, RIP the 18th.
EXCEPTION_FRAME_SIZE = 22 * 8
FRAME_RIP_OFFSET = 17 * 8


def test_dispatcher_reads_the_frame_through_the_pointer_the_stub_passes(boot, stub, chapter):
    """The stub passes the frame's address in RDI, and dispatch_exception
    must read the frame there. Declared to take the frame by value instead
    (the famous bug of older tutorials), it reads the copy the System V ABI
    places above its return address, which happens to be the same memory
    today: every report looks right, until the compiler uses that memory,
    its own, as scratch space. So the test stops the kernel as the
    breakpoint of kernel_main enters dispatch_exception and hands it a
    copy of the frame with another RIP (play_a_copy_of_the_frame)."""
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.elf.symbol("dispatch_exception").value)
    play_a_copy_of_the_frame(machine, stub, played_function="write_to_unmapped_memory")


def play_a_copy_of_the_frame(machine: Machine, stub: GdbStub, played_function: str) -> None:
    """With the kernel stopped as kernel_main's breakpoint enters
    dispatch_exception: copies the frame to the bottom of the boot stack
    (which nothing reaches) with `played_function` as its RIP, points RDI
    at the copy and lets the kernel go on. The breakpoint's report must
    show that RIP; the handler returns through the real frame, which is
    unchanged."""
    frame = bytearray(stub.read_memory(stub.read_register(RDI), EXCEPTION_FRAME_SIZE))
    played_rip = machine.elf.symbol(played_function).value
    frame[FRAME_RIP_OFFSET:FRAME_RIP_OFFSET + 8] = played_rip.to_bytes(8, "little")
    copy = machine.elf.symbol("stack_bottom").value
    stub.write_memory(copy, bytes(frame))
    stub.write_register(RDI, copy)
    stub.detach()
    machine.wait_for_serial(r"^It did not crash")
    reports = parse_reports(machine.serial_lines)
    assert reports and reports[0].vector == BREAKPOINT, (
        "expected the breakpoint's report before 'It did not crash':\n" + "\n".join(machine.serial_lines))
    breakpoint_report = reports[0]
    assert breakpoint_report.rip == played_rip, (
        f"dispatch_exception was given a frame at {copy:#x} (in RDI) whose rip is {played_rip:#x} "
        f"<{played_function}>, but the breakpoint's report shows another: it read a frame of its own, "
        f"not the one the stub passed. Does it take the ExceptionFrame by value? It must take a pointer "
        f"(exception_frame.h says why):\n{breakpoint_report}")


# --- chapter 4's test kernels, now with exception handlers installed ----------------


@pytest.mark.parametrize("kernel", TESTS.kernel_params_of(CHAPTER_4_KERNELS))
def test_chapter_4_test_kernel_still_passes(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    ktap.check_every_run_passed(kernel_runs, kernel)


# --- the report parser, on made-up text ------------------------------------------------


def test_parse_reports_reads_every_field():
    lines = ["noise", "EXCEPTION 13 #GP General Protection",
             "  error_code=0x00000320 external=0 table=GDT index=100",
             "  rip=0x0000000000102779 <raise+0x9>", "not a report line",
             "EXCEPTION 3 #BP Breakpoint at rip=0x0000000000101234 <kernel_main+0x34>",
             "EXCEPTION 15 Reserved", "  rip=0x0000000000000001 <unknown>"]
    general, breakpoint_report, reserved = parse_reports(lines)
    assert (general.vector, general.mnemonic, general.name) == (13, "#GP", "General Protection")
    assert general.fields == {"error_code": "0x00000320", "external": "0", "table": "GDT", "index": "100",
                              "rip": "0x0000000000102779"}
    assert general.symbol == "raise+0x9" and not general.short
    assert breakpoint_report.short and breakpoint_report.symbol == "kernel_main+0x34"
    assert breakpoint_report.rip == 0x101234 and breakpoint_report.name == "Breakpoint"
    assert (reserved.mnemonic, reserved.name, reserved.symbol) == (None, "Reserved", "unknown")
