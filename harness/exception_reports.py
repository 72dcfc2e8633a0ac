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

The CPU's account is QEMU's interrupt log (-d int, read by
interrupt_log.py), which records the vector, error code, CR2 and all
registers at the moment it delivered each exception. The test kernels that
print these reports boot through ktap.KernelRuns, as every test kernel does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import interrupt_log
from chapters import CHAPTERS
from elf import ElfFile
from interrupt_log import DeliveredInterrupt
from vga_screen import Screen
from x86_exceptions import ERROR_CODE_VECTORS, NAMES, PAGE_FAULT

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


# --- checks of one report ----------------------------------------------------------

def check_heading(report: Report, vector: int) -> None:
    mnemonic, name = NAMES[vector]
    assert (report.vector, report.mnemonic, report.name) == (vector, mnemonic, name), (
        f"expected the heading of vector {vector}, {mnemonic or '(no mnemonic)'} {name}; got:\n{report}")


def check_full_report(report: Report, *, general_registers_checked_by_the_kernel: bool = False) -> None:
    """Every field a full report must have, each in its format. With
    general_registers_checked_by_the_kernel the report may leave out all
    the general registers: the test that raised the exception loaded them,
    and checked the frame's itself (tests/expect_exception.h)."""
    assert not report.short, f"expected a full report, got the short one:\n{report}"
    widths = {"rip": 16, "rflags": 16, "rsp": 16, "cs": 4, "ss": 4}
    if shows_general_registers(report) or not general_registers_checked_by_the_kernel:
        widths |= {register: 16 for register in GENERAL_REGISTERS}
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


def shows_general_registers(report: Report) -> bool:
    """Whether the report shows any general register: a full report shows
    them all, or none where the test checked them itself."""
    return any(register in report.fields for register in GENERAL_REGISTERS)


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


# The lengths of the instructions that raise a software interrupt, by their
# first byte: int3 (cc) and int N (cd nn). QEMU logs the address of the
# instruction, the CPU pushes the address of the next one.
SOFTWARE_INTERRUPT_LENGTHS = {0xCC: 1, 0xCD: 2}


def pushed_rip(delivery: DeliveredInterrupt, elf: ElfFile) -> int:
    """The RIP the CPU pushed for a delivery: a fault's own address, so
    that returning runs the instruction again; past the instruction of a
    software interrupt, a trap."""
    if not delivery.software:
        return delivery.rip
    opcode = elf.initial_bytes(delivery.rip, 1)[0]
    assert opcode in SOFTWARE_INTERRUPT_LENGTHS, (
        f"QEMU delivered a software interrupt at {delivery.rip:#x}, where {elf.path.name} has {opcode:#04x}, "
        f"no int3 or int N")
    return delivery.rip + SOFTWARE_INTERRUPT_LENGTHS[opcode]


def check_against_cpu(report: Report, delivery: DeliveredInterrupt, elf: ElfFile, *,
                      general_registers_checked_by_the_kernel: bool = False) -> None:
    """The report shows what the CPU had when it delivered the exception;
    `elf` is the kernel that raised it. With
    general_registers_checked_by_the_kernel, a report that leaves out the
    general registers (see check_full_report) is compared on the rest."""
    assert report.vector == delivery.vector, (
        f"QEMU delivered vector {delivery.vector}, the kernel reported:\n{report}")
    rip = pushed_rip(delivery, elf)
    how = "trapped" if delivery.software else "faulted"
    assert report.rip == rip, f"the CPU {how} at rip={delivery.rip:#x} and pushed rip={rip:#x}:\n{report}"
    if report.short:
        return
    if not delivery.software and delivery.vector in ERROR_CODE_VECTORS:
        assert report.value("error_code") == delivery.error_code, (
            f"the CPU pushed error code {delivery.error_code:#x}:\n{report}")
    if delivery.cr2 is not None:
        assert report.value("cr2") == delivery.cr2, f"CR2 was {delivery.cr2:#x}:\n{report}"
    cpu = delivery.registers
    compared = shows_general_registers(report) or not general_registers_checked_by_the_kernel
    for register in GENERAL_REGISTERS if compared else ():
        assert register in report.fields, f"the report lacks {register}=:\n{report}"
        assert report.value(register) == cpu[register.upper()], (
            f"{register} was {cpu[register.upper()]:#018x} when the CPU delivered the exception:\n{report}")
    assert report.value("rsp") == cpu.rsp, f"rsp was {cpu.rsp:#018x}:\n{report}"
    assert report.value("rflags") & ~RESUME_FLAG == cpu.flags, f"rflags was {cpu.flags:#x}:\n{report}"


def check_all_against_cpu(reports: list[Report], qemu_log: str, elf: ElfFile, *,
                          general_registers_checked_by_the_kernel: bool = False) -> None:
    """Each report against the delivery that reached its handler, in order;
    `elf` is the kernel that raised them."""
    delivered = interrupt_log.handled(qemu_log)
    assert len(reports) == len(delivered), (
        f"QEMU delivered {len(delivered)} exceptions "
        f"({', '.join(str(d.vector) for d in delivered)}), the kernel reported {len(reports)} "
        f"({', '.join(str(r.vector) for r in reports)})")
    for report, delivery in zip(reports, delivered):
        check_against_cpu(report, delivery, elf,
                          general_registers_checked_by_the_kernel=general_registers_checked_by_the_kernel)


def check_screen_shows_the_reports(screen: Screen, reports: list[Report]) -> None:
    """The screen holds the same reports as serial, field for field."""
    on_screen = parse_reports(screen.lines())
    assert [(r.vector, r.fields, r.symbol) for r in on_screen] == [(r.vector, r.fields, r.symbol) for r in reports], (
        "the screen's reports differ from serial's:\n" + screen.render())


def source_line(chapter: str, path: str, text: str) -> str:
    """`path:N` for the one line of the chapter's source file that holds
    `text`, so that an edit above it keeps the test right."""
    lines = (CHAPTERS / chapter / path).read_text().splitlines()
    numbers = [n for n, line in enumerate(lines, start=1)
               if text in line and not line.lstrip().startswith("//")]
    assert len(numbers) == 1, f"expected {text!r} on one line of {path}, found it on lines {numbers}"
    return f"{path}:{numbers[0]}"
