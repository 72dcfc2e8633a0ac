"""Exception reports, as chapters 05 and 06 print them, and the CPU's own
account of the same exceptions: parsing both, and checking one against the
other field by field.

A report looks like this (exception_report.h in chapter 05); every line
after the heading is name=value fields, and `<function+0xoffset>` names the
code at RIP:

    EXCEPTION 14 #PF Page Fault
      error_code=0x00000002
        present=0 write=1 user=0 reserved_bit=0 instruction_fetch=0
      cr2=0x00000000deadbeef
      rip=0x0000000000102779 <write_to_unmapped_memory+0x9>
      cs=0x0008 rflags=0x0000000000000002 rsp=0x000000000010bf20 ss=0x0000
      rax=0x... rbx=0x... rcx=0x...      (15 general registers, three a line)

The CPU's account is QEMU's interrupt log (-d int), which records the
vector, error code, CR2 and all registers at the moment it delivered each
exception. Also here: one boot of a test kernel to its exit, kept for the
pytest items that check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import ktap
from build import Builder
from chapters import CHAPTERS, artifacts, chapter_build, selected
from elf import ElfFile
from machine import EXIT_SUCCESS, Machine
from registers import Registers
from verdict import KernelFailure, Verdict

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


def source_line(chapter: str, path: str, text: str) -> str:
    """`path:N` for the one line of the chapter's source file that holds
    `text`, so that an edit above it keeps the test right."""
    lines = (CHAPTERS / chapter / path).read_text().splitlines()
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


def declared_test_names(chapter: str, kernel: str) -> tuple[list[str], KernelFailure | None]:
    """The tests a test kernel of the chapter declares, read from its ELF
    while pytest collects (built first, so that they come from the current
    source), or the failure that kept it from being built; nothing for a
    chapter that --chapter leaves out."""
    if not selected(chapter):
        return [], None
    try:
        Builder().chapter(chapter)
    except KernelFailure as failure:
        return [], failure
    return [test.name for test in ktap.declared_tests(chapter_build(chapter) / f"{kernel}.elf")], None


def boot_test_kernel(chapter: str, name: str, command_line: str | None = None) -> Run:
    """Boots a test kernel of the chapter to its exit, with a command line
    if given; keeps the evidence if it went wrong."""
    label = name if command_line is None else f"{name}-{command_line.split('=', 1)[-1]}"
    machine = Machine(chapter_build(chapter) / f"{name}.iso", command_line=command_line, name=label)
    try:
        failure = None
        try:
            machine.wait_for_exit()
        except KernelFailure as caught:
            failure = caught
        report = ktap.parse(machine.serial_text)
        triple_faulted = machine.triple_faulted
        kept = None
        if failure is not None or machine.exit_status != EXIT_SUCCESS or report.problems() or triple_faulted:
            kept = artifacts() / chapter / label
            machine.save_artifacts(kept, failure_text=failure.describe() if failure else None)
        return Run(label, machine.exit_status, failure, machine.serial_text, machine.qemu_log(),
                   triple_faulted, report, kept)
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
    if result.skipped:
        raise ktap.skipped_failure(result)
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
    failed = [r.name for r in run.report.results if not r.ok or r.skipped]
    assert not failed, f"{run.name}: failed {', '.join(failed)}\n{run.tail()}"
    assert run.exit_status == EXIT_SUCCESS, (
        f"{run.name} exited with status {run.exit_status}, expected {EXIT_SUCCESS}\n{run.tail()}")
