"""Chapter 05, CPU exceptions: the kernel's exception reports, checked field
by field against what the CPU really did.

A report looks like this (exception_report.h); every line after the heading
is name=value fields, and `<function+0xoffset>` names the code at RIP:

    EXCEPTION 14 #PF Page Fault
      error_code=0x00000002
        present=0 write=1 user=0 reserved_bit=0 instruction_fetch=0
      cr2=0x00000000deadbeef
      rip=0x0000000000102779 <write_to_unmapped_memory+0x9>
      cs=0x0008 rflags=0x0000000000000002 rsp=0x000000000010bf20 ss=0x0000
      rax=0x... rbx=0x... rcx=0x...      (15 general registers, three a line)

Three kernels boot, once each:

    exception_tests      in-kernel tests that raise exceptions on purpose and
                         catch them (tests/expect_exception.h); the report of
                         each caught exception goes to serial as diagnostics
    unhandled_exception  a page fault nobody expects: report, then panic
    kernel               what `make run` shows: a breakpoint that returns,
                         "did not crash", then a page fault report on screen

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

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ktap
from build import Builder
from chapters import ARTIFACTS, BUILD, CHAPTERS
from elf import ElfFile
from machine import EXIT_SUCCESS, Machine
from registers import Registers
from verdict import KernelFailure, Verdict

CHAPTER = "05-cpu-exceptions"
SOURCES = CHAPTERS / CHAPTER

# --- what the SDM says, written out here independently of the kernel --------

# Intel SDM vol. 3, table 6-1; 28-30 from the AMD64 APM vol. 2, table 8-1.
# None: the SDM gives the vector no mnemonic.
NAMES: dict[int, tuple[str | None, str]] = {
    0: ("#DE", "Divide Error"), 1: ("#DB", "Debug"), 2: (None, "Non-Maskable Interrupt"),
    3: ("#BP", "Breakpoint"), 4: ("#OF", "Overflow"), 5: ("#BR", "BOUND Range Exceeded"),
    6: ("#UD", "Invalid Opcode"), 7: ("#NM", "Device Not Available"), 8: ("#DF", "Double Fault"),
    9: (None, "Coprocessor Segment Overrun (reserved)"), 10: ("#TS", "Invalid TSS"),
    11: ("#NP", "Segment Not Present"), 12: ("#SS", "Stack-Segment Fault"),
    13: ("#GP", "General Protection"), 14: ("#PF", "Page Fault"), 15: (None, "Reserved"),
    16: ("#MF", "x87 Floating-Point Error"), 17: ("#AC", "Alignment Check"),
    18: ("#MC", "Machine Check"), 19: ("#XM", "SIMD Floating-Point Exception"),
    20: ("#VE", "Virtualization Exception"), 21: ("#CP", "Control Protection"),
    **{vector: (None, "Reserved") for vector in range(22, 28)},
    28: ("#HV", "Hypervisor Injection Exception (AMD)"),
    29: ("#VC", "VMM Communication Exception (AMD)"), 30: ("#SX", "Security Exception (AMD)"),
    31: (None, "Reserved"),
}
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
SELECTOR_ERROR_CODE_VECTORS = {10, 11, 12, 13}
PAGE_FAULT = 14
BREAKPOINT = 3

GENERAL_REGISTERS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
KERNEL_CODE_SEGMENT = 0x08  # boot.asm's GDT
RESUME_FLAG = 1 << 16  # RFLAGS.RF: a CPU may set it in the pushed image of a fault

# --- reading the kernel's reports ----------------------------------------------

HEADING = re.compile(r"^EXCEPTION (?P<vector>\d+) (?:(?P<mnemonic>#[A-Z]{2}) )?(?P<name>.+?)"
                     r"(?: at (?P<location>rip=.*))?$")
FIELD = re.compile(r"\b([a-z][a-z0-9_]*)=(\S+)")
SYMBOL = re.compile(r"<([^<>]*)>")
HEX = {16: re.compile(r"^0x[0-9a-f]{16}$"), 8: re.compile(r"^0x[0-9a-f]{8}$"),
       4: re.compile(r"^0x[0-9a-f]{4}$")}


@dataclass
class Report:
    vector: int
    mnemonic: str | None
    name: str
    short: bool  # the one-line report of a breakpoint
    fields: dict[str, str] = field(default_factory=dict)
    symbol: str | None = None  # "function+0xoffset" as printed; "unknown" when it knew none
    lines: list[str] = field(default_factory=list)

    def value(self, name: str) -> int:
        return int(self.fields[name], 16)

    @property
    def rip(self) -> int:
        return self.value("rip")

    def __str__(self) -> str:
        return "\n".join("    " + line for line in self.lines)

    def take(self, line: str) -> None:
        self.lines.append(line)
        for name, value in FIELD.findall(line):
            assert name not in self.fields, f"field {name} twice in the report:\n{self}"
            self.fields[name] = value
        if match := SYMBOL.search(line):
            self.symbol = match[1]


def parse_reports(lines: list[str]) -> list[Report]:
    """Every report in the lines (KTAP diagnostics without their "# ", or
    screen rows), in order."""
    reports: list[Report] = []
    current: Report | None = None
    for line in lines:
        if heading := HEADING.match(line):
            current = Report(int(heading["vector"]), heading["mnemonic"], heading["name"],
                             short=heading["location"] is not None)
            current.lines.append(line)
            if current.short:
                current.take(heading["location"])
            reports.append(current)
            if current.short:
                current = None
        elif current is not None and line.startswith("  "):
            current.take(line)
        else:
            current = None
    return reports


# --- what the CPU did: QEMU's interrupt log ------------------------------------

# One line per delivered interrupt or exception, followed by the register
# dump; i=1 marks a software interrupt (int N, int3), whose IP is that of
# the instruction itself.
DELIVERED = re.compile(r"^\s*\d+: v=(?P<vector>[0-9a-f]+) e=(?P<error>[0-9a-f]+) i=(?P<software>\d) "
                       r"cpl=\d IP=[0-9a-f]+:(?P<rip>[0-9a-f]+)(?:.*?CR2=(?P<cr2>[0-9a-f]+))?")


@dataclass
class Delivery:
    vector: int
    error_code: int
    software: bool
    rip: int
    cr2: int | None
    registers: Registers


def deliveries(qemu_log: str) -> list[Delivery]:
    lines = qemu_log.splitlines()
    found = []
    for index, line in enumerate(lines):
        if match := DELIVERED.match(line):
            dump = []
            for following in lines[index + 1:]:
                if not following.strip() or DELIVERED.match(following) or following.startswith("check_exception"):
                    break
                dump.append(following)
            found.append(Delivery(int(match["vector"], 16), int(match["error"], 16), match["software"] == "1",
                                  int(match["rip"], 16), int(match["cr2"], 16) if match["cr2"] else None,
                                  Registers("\n".join(dump))))
    return found


# --- checks of one report ----------------------------------------------------------

def check_heading(report: Report, vector: int) -> None:
    mnemonic, name = NAMES[vector]
    assert (report.vector, report.mnemonic, report.name) == (vector, mnemonic, name), (
        f"expected the heading of vector {vector}, {mnemonic or '(no mnemonic)'} {name}; got:\n{report}")


def check_full_report(report: Report) -> None:
    """Every field a full report must have, each in its format."""
    assert not report.short, f"expected a full report, got the short one:\n{report}"
    widths = {"rip": 16, "rflags": 16, "rsp": 16, "cs": 4, "ss": 4,
              **{register: 16 for register in GENERAL_REGISTERS}}
    if report.vector in ERROR_CODE_VECTORS:
        widths["error_code"] = 8
    if report.vector == PAGE_FAULT:
        widths["cr2"] = 16
    for name, width in widths.items():
        assert name in report.fields, f"the report lacks {name}=:\n{report}"
        assert HEX[width].match(report.fields[name]), (
            f"{name}={report.fields[name]} is not 0x and {width} hex digits:\n{report}")
    if report.vector not in ERROR_CODE_VECTORS:
        assert "error_code" not in report.fields, f"vector {report.vector} has no error code:\n{report}"
    assert report.value("cs") == KERNEL_CODE_SEGMENT and report.value("ss") == 0, (
        f"the kernel runs with CS=0x08 and SS=0:\n{report}")


def check_symbol(report: Report, elf: ElfFile, function: str | None) -> None:
    """The kernel names the function at RIP as the ELF's symbol table does;
    `function` is the name it must be (None: no function holds RIP)."""
    if function is None:
        assert report.symbol == "unknown", f"no function holds rip={report.rip:#x}, yet:\n{report}"
        return
    from_elf = elf.function_at(report.rip)
    assert report.symbol == from_elf, (
        f"the kernel says rip is in <{report.symbol}>, the ELF's symbol table says <{from_elf}>:\n{report}")
    assert report.symbol.split("+")[0] == function, f"expected rip in {function}:\n{report}"


def check_error_code(report: Report, expected: dict[str, str] | list[dict[str, str]]) -> None:
    """The error code and the fields that decode it, exactly these (or
    exactly one of these)."""
    decoding = {"external", "table", "index", "selector", "present", "write", "user",
                "reserved_bit", "instruction_fetch", "error_code"}
    got = {name: value for name, value in report.fields.items() if name in decoding}
    allowed = expected if isinstance(expected, list) else [expected]
    assert got in allowed, f"error code fields: expected {' or '.join(map(str, allowed))}, got {got}:\n{report}"


def check_against_cpu(report: Report, delivery: Delivery) -> None:
    """The report shows what the CPU had when it delivered the exception."""
    assert report.vector == delivery.vector, (
        f"QEMU delivered vector {delivery.vector}, the kernel reported:\n{report}")
    if delivery.software:
        # int3 and int N are traps: the frame's RIP is past the instruction.
        assert report.rip - delivery.rip in (1, 2), (
            f"{'int3' if delivery.vector == BREAKPOINT else 'int N'} at {delivery.rip:#x}: the report's RIP "
            f"must point past it:\n{report}")
    else:
        assert report.rip == delivery.rip, f"the CPU faulted at rip={delivery.rip:#x}:\n{report}"
    if report.short:
        return
    if not delivery.software and delivery.vector in ERROR_CODE_VECTORS:
        assert report.value("error_code") == delivery.error_code, (
            f"the CPU pushed error code {delivery.error_code:#x}:\n{report}")
    if delivery.cr2 is not None:
        assert report.value("cr2") == delivery.cr2, f"CR2 was {delivery.cr2:#x}:\n{report}"
    cpu = delivery.registers
    for register in GENERAL_REGISTERS:
        assert report.value(register) == cpu[register.upper()], (
            f"{register} was {cpu[register.upper()]:#018x} when the CPU delivered the exception:\n{report}")
    assert report.value("rsp") == cpu.rsp, f"rsp was {cpu.rsp:#018x}:\n{report}"
    assert report.value("rflags") & ~RESUME_FLAG == cpu.flags, f"rflags was {cpu.flags:#x}:\n{report}"


def check_all_against_cpu(reports: list[Report], qemu_log: str) -> None:
    delivered = deliveries(qemu_log)
    assert len(reports) == len(delivered), (
        f"QEMU delivered {len(delivered)} exceptions "
        f"({', '.join(str(d.vector) for d in delivered)}), the kernel reported {len(reports)} "
        f"({', '.join(str(r.vector) for r in reports)})")
    for report, delivery in zip(reports, delivered):
        check_against_cpu(report, delivery)


def source_line(path: str, text: str) -> str:
    """`path:N` for the one line of the chapter's source file that holds
    `text`, so that an edit above it keeps the test right."""
    lines = (SOURCES / path).read_text().splitlines()
    numbers = [n for n, line in enumerate(lines, start=1)
               if text in line and not line.lstrip().startswith("//")]
    assert len(numbers) == 1, f"expected {text!r} on one line of {path}, found it on lines {numbers}"
    return f"{path}:{numbers[0]}"


# --- one boot of a kernel, shared by the items that check it ----------------------

@dataclass
class Run:
    name: str
    exit_status: int | None
    failure: KernelFailure | None
    serial: str
    qemu_log: str
    triple_faulted: bool
    report: ktap.Report
    artifacts: Path | None

    def tail(self, count: int = 25) -> str:
        shown = self.serial.splitlines()[-count:]
        kept = f"\n\nkept: {self.artifacts}" if self.artifacts else ""
        return "serial output (last lines):\n" + "\n".join("  " + line for line in shown) + kept


def run_test_kernel(name: str) -> Run:
    """Boots a test kernel to its exit; keeps the evidence if it went wrong."""
    machine = Machine(BUILD / CHAPTER / f"{name}.iso", name=name)
    try:
        failure = None
        try:
            machine.wait_for_exit()
        except KernelFailure as caught:
            failure = caught
        report = ktap.parse(machine.serial_text)
        triple_faulted = machine.triple_faulted
        artifacts = None
        if failure is not None or machine.exit_status != EXIT_SUCCESS or report.problems() or triple_faulted:
            artifacts = ARTIFACTS / CHAPTER / name
            machine.save_artifacts(artifacts, failure_text=failure.describe() if failure else None)
        return Run(name, machine.exit_status, failure, machine.serial_text, machine.qemu_log(),
                   triple_faulted, report, artifacts)
    finally:
        machine.close()


def passed(run: Run, test: str) -> ktap.Result:
    """The in-kernel test's result if it passed, else a failure that says
    what the kernel printed about it."""
    __tracebackhide__ = True
    result = run.report.result(test)
    if result is None:
        if run.failure is not None:
            raise KernelFailure(run.failure.verdict, f"no result for {test}: {run.failure.summary}",
                                run.failure.hint, run.tail())
        raise KernelFailure(Verdict.FAIL, f"no result for {test}; QEMU exited with status {run.exit_status}",
                            "the serial output shows how far the kernel got", run.tail())
    if not result.ok:
        panicked = any(line.startswith("KERNEL PANIC") for line in result.message)
        raise KernelFailure(Verdict.PANIC if panicked else Verdict.FAIL,
                            f"not ok {result.number} {test}: "
                            + (result.message[0] if result.message else "(no reason printed)"),
                            "the kernel's own report of the failure follows",
                            "\n".join("  # " + line for line in result.diagnostics))
    return result


def check_whole_run(run: Run) -> None:
    """A complete KTAP report, every test passed, exit with success."""
    __tracebackhide__ = True
    if run.failure is not None:
        raise run.failure
    problems = run.report.problems()
    assert not problems, "; ".join(problems) + "\n" + run.tail()
    failed = [r.name for r in run.report.results if not r.ok]
    assert not failed, f"{run.name}: failed {', '.join(failed)}\n{run.tail()}"
    assert run.exit_status == EXIT_SUCCESS, (
        f"{run.name} exited with status {run.exit_status}, expected {EXIT_SUCCESS}\n{run.tail()}")


def _declared_tests() -> tuple[list[str], KernelFailure | None]:
    """The exception tests, read from the test kernel's ELF while pytest
    collects (built first, so that they come from the current source)."""
    try:
        Builder().chapter(CHAPTER)
    except KernelFailure as failure:
        return [], failure
    return [test.name for test in ktap.declared_tests(BUILD / CHAPTER / "exception_tests.elf")], None


DECLARED, BUILD_FAILURE = _declared_tests()

if BUILD_FAILURE is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise BUILD_FAILURE


@pytest.fixture(scope="module")
def runs():
    """Each test kernel's one boot, on first use."""
    booted: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in booted:
            booted[name] = run_test_kernel(name)
        return booted[name]

    return get


@pytest.fixture(scope="module")
def elf() -> ElfFile:
    return ElfFile(BUILD / CHAPTER / "exception_tests.elf")


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
LAST_HUGE_PAGE = 0x3FE00000  # the test sets a reserved bit in the entry that maps it

EXPECTED = {
    "exceptions_divide_error": Expected(0, function="raise_divide_error", code=b"\xf7\xf1"),  # div ecx
    "exceptions_invalid_opcode": Expected(6, function="raise_invalid_opcode", code=b"\x0f\x0b"),  # ud2
    "exceptions_general_protection_selector": Expected(
        13, {"error_code": "0x00000320", "external": "0", "table": "GDT", "index": "100"},
        function="raise_general_protection_with_selector"),
    "exceptions_general_protection_non_canonical": Expected(
        13, {"error_code": "0x00000000", "selector": "none"}, function="raise_general_protection_non_canonical"),
    "exceptions_page_fault_read": Expected(14, page_fault_bits(0b00000), UNMAPPED, "read_unmapped_memory"),
    "exceptions_page_fault_write": Expected(14, page_fault_bits(0b00010), UNMAPPED, "write_unmapped_memory"),
    # The SDM sets P with RSVD (reserved bits count in present entries
    # only); QEMU 7.2 does not.
    "exceptions_page_fault_reserved_bit": Expected(14, [page_fault_bits(0b01001), page_fault_bits(0b01000)],
                                                   LAST_HUGE_PAGE, "read_last_huge_page"),
    "exceptions_page_fault_instruction_fetch": Expected(14, page_fault_bits(0b10000), UNMAPPED_CODE, None,
                                                        rip=UNMAPPED_CODE),
}
BREAKPOINT_TEST = "exceptions_breakpoint_returns_and_execution_continues"
EVERY_VECTOR_TEST = "exceptions_every_vector_reaches_its_handler"


@pytest.mark.parametrize("test", DECLARED)
def test_in_kernel(runs, elf: ElfFile, test: str):
    """The in-kernel test passed, and the report of its exception is right
    field by field."""
    result = passed(runs("exception_tests"), test)
    reports = parse_reports(result.diagnostics)
    if test == EVERY_VECTOR_TEST:
        assert [r.vector for r in reports] == list(range(32)), "expected one report per vector, 0 to 31, in order"
        return  # each vector is an item of its own: test_int_n_reaches_its_handler
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
    if expected.rip is not None:
        assert report.rip == expected.rip, f"expected rip={expected.rip:#018x}:\n{report}"
    check_symbol(report, elf, expected.function)
    if expected.code is not None:
        assert elf.initial_bytes(report.rip, len(expected.code)) == expected.code, (
            f"rip must point at the faulting instruction {expected.code.hex(' ')}:\n{report}")


@pytest.mark.parametrize("vector", range(32))
def test_int_n_reaches_its_handler(runs, elf: ElfFile, vector: int):
    """`int N` reaches vector N's handler, whose report names the exception.
    The CPU pushes no error code for `int N` (SDM 6.13), even on vectors
    that have one; the stub must notice, or the whole frame is misread."""
    if EVERY_VECTOR_TEST not in DECLARED:
        pytest.fail(f"the test kernel declares no {EVERY_VECTOR_TEST}")
    result = passed(runs("exception_tests"), EVERY_VECTOR_TEST)
    reports = parse_reports(result.diagnostics)
    report = next((r for r in reports if r.vector == vector), None)
    assert report is not None, f"no report for vector {vector}; the reports are for {[r.vector for r in reports]}"
    check_heading(report, vector)
    check_full_report(report)
    if vector in SELECTOR_ERROR_CODE_VECTORS:
        check_error_code(report, {"error_code": "0x00000000", "selector": "none"})
    elif vector == PAGE_FAULT:
        check_error_code(report, page_fault_bits(0))
    elif vector in ERROR_CODE_VECTORS:
        check_error_code(report, {"error_code": "0x00000000"})
    assert elf.initial_bytes(report.rip - 2, 2) == bytes([0xCD, vector]), (
        f"rip must point just past `int {vector}` (cd {vector:02x}):\n{report}")
    check_symbol(report, elf, report.symbol.split("+")[0])
    assert "software_interrupt" in report.symbol, f"expected rip in software_interrupt<{vector}>:\n{report}"


def test_exception_tests_reports_agree_with_the_cpu(runs):
    """Each report, in the order the kernel printed them, against QEMU's log
    of what the CPU delivered: vector, RIP, error code, CR2, and every
    general register, RSP and RFLAGS."""
    run = runs("exception_tests")
    check_all_against_cpu(parse_reports(ktap_diagnostics(run.serial)), run.qemu_log)


def ktap_diagnostics(serial: str) -> list[str]:
    return [line[2:] for line in serial.replace("\r", "").split("\n") if line.startswith("# ")]


def test_exception_tests_exit_without_triple_fault(runs):
    run = runs("exception_tests")
    assert not run.triple_faulted, f"the exception tests triple-faulted\n{run.tail()}"
    check_whole_run(run)
    assert [r.name for r in run.report.results] == DECLARED, "the kernel ran other tests than it declares"


# --- an exception nobody expects: one report, then a panic ------------------------


def test_unhandled_exception_reports_and_panics(runs):
    """The should-panic test kernel: its page fault is not caught, so the
    kernel's handler reports it once, in the panic message, and panics;
    the runner counts the panic as the test's success."""
    run = runs("unhandled_exception")
    assert not run.triple_faulted, f"the unhandled page fault triple-faulted\n{run.tail()}"
    result = passed(run, "exceptions_unhandled_page_fault_panics")
    panic = f"KERNEL PANIC at {source_line('exceptions.cpp', 'begin_panic(')}: unhandled CPU exception"
    assert panic in result.diagnostics, f"expected the line {panic!r}\n{run.tail()}"
    reports = parse_reports(result.diagnostics)
    assert len(reports) == 1, f"expected one report, got {len(reports)}\n{run.tail()}"
    report = reports[0]
    assert result.diagnostics.index(panic) + 1 == result.diagnostics.index(report.lines[0]), (
        "the report must follow the panic line")
    check_heading(report, PAGE_FAULT)
    check_full_report(report)
    check_error_code(report, page_fault_bits(0b00010))
    assert report.value("cr2") == UNMAPPED
    check_symbol(report, ElfFile(BUILD / CHAPTER / "unhandled_exception.elf"), "write_to_unmapped_memory")
    check_all_against_cpu(reports, run.qemu_log)
    check_whole_run(run)


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
    check_all_against_cpu(reports, machine.qemu_log())

    # The screen shows the same, field for field.
    screen = machine.screen()
    screen.expect_contains(["It did not crash: the breakpoint handler returned.",
                            f"KERNEL PANIC at {source_line('exceptions.cpp', 'begin_panic(')}: unhandled CPU exception"])
    on_screen = parse_reports(screen.lines())
    assert [(r.vector, r.fields, r.symbol) for r in on_screen] == [(r.vector, r.fields, r.symbol) for r in reports], (
        "the screen's reports differ from serial's:\n" + screen.render())


# --- chapter 4's test kernels, now with exception handlers installed ----------------


@pytest.mark.parametrize("name", ["unit_tests", "basic_boot", "should_panic"])
def test_chapter_4_test_kernel_still_passes(runs, name: str):
    check_whole_run(runs(name))


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
