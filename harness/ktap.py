"""Both ends of chapter 04's in-kernel test framework, seen from the host.

A test kernel declares its tests in the ELF section `kernel_tests` (see
chapters/04-testing/kernel_test.h) and reports them on serial in KTAP v1,
the format of Linux's KUnit (Documentation/dev-tools/ktap.rst):

    KTAP version 1
    1..2
    # running vga_scroll
    ok 1 vga_scroll
    # running vga_wrap
    # EXPECT_EQ(row, 24) failed at tests/vga_tests.cpp:40
    #   row = 23
    #   24 = 24
    not ok 2 vga_wrap

`declared_tests` reads the first without booting, so that pytest can collect
one item per in-kernel test; `parse` reads the second.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from elf import SECTION_NOBITS, ElfFile

# --- the declarations: the kernel_tests section of the ELF -----------------

SECTION = "kernel_tests"

# One record of the section, as kernel_test.h lays it out (its static_asserts
# hold the kernel to this): the address of the name, the address of the
# function, the ending the test expects, padding to 32 bytes.
RECORD = struct.Struct("<QQI12x")
ENDINGS = {0: "returns", 1: "panics"}


@dataclass(frozen=True)
class DeclaredTest:
    name: str
    ending: str  # "returns" or "panics"


def _string_at(elf: ElfFile, address: int) -> str:
    """The zero-terminated string at a kernel address, read from the file."""
    for section in elf.sections:
        if (section.type != SECTION_NOBITS and section.address
                and section.address <= address < section.address + section.size):
            start = section.offset + address - section.address
            return elf.data[start:elf.data.index(b"\0", start)].decode()
    raise ValueError(f"{elf.path.name}: address {address:#x} is in no section with contents")


def declared_tests(elf_path: Path | str) -> list[DeclaredTest]:
    """The tests a kernel ELF declares, in the order its runner runs them."""
    elf = ElfFile(elf_path)
    table = next((s for s in elf.sections if s.name == SECTION), None)
    if table is None:
        return []
    if table.size % RECORD.size:
        raise ValueError(f"{elf.path.name}: section {SECTION} is {table.size} bytes, "
                         f"not a whole number of {RECORD.size}-byte records")
    tests = []
    for offset in range(table.offset, table.offset + table.size, RECORD.size):
        name_address, _function, ending = RECORD.unpack_from(elf.data, offset)
        tests.append(DeclaredTest(_string_at(elf, name_address),
                                  ENDINGS.get(ending, f"unknown ending {ending}")))
    return tests


# --- the results: KTAP on serial -------------------------------------------

VERSION_LINE = "KTAP version 1"
# The runner announces each test with this diagnostic before it starts it,
# so that output which stops names the test it stopped in.
RUNNING_PREFIX = "running "
_PLAN = re.compile(r"^1\.\.(\d+)$")
_RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)\s*(?:# (.*))?$")


@dataclass
class Result:
    number: int
    name: str
    ok: bool
    directive: str  # what follows "#" on the result line, or ""
    diagnostics: list  # the "# " lines since the previous result, without "# "

    @property
    def message(self):
        """The diagnostics without the runner's own "running" line."""
        return [d for d in self.diagnostics if not d.startswith(RUNNING_PREFIX)]


@dataclass
class Report:
    version_seen: bool = False
    plan: int | None = None
    results: list = field(default_factory=list)
    # Diagnostics after the last result: what the test that was running
    # when the output stopped had printed.
    trailing: list = field(default_factory=list)

    def result(self, name):
        return next((r for r in self.results if r.name == name), None)

    @property
    def running(self):
        """The test that had started but not finished when output stopped."""
        started = [d[len(RUNNING_PREFIX):] for d in self.trailing
                   if d.startswith(RUNNING_PREFIX)]
        return started[-1] if started else None

    @property
    def complete(self):
        return self.plan is not None and len(self.results) == self.plan

    def problems(self):
        """What is wrong with the report as KTAP, in words; [] if nothing."""
        if not self.version_seen:
            return [f"no '{VERSION_LINE}' line: the test runner never started"]
        if self.plan is None:
            return ["no plan line (1..N): the runner stopped before it counted its tests"]
        problems = []
        if len(self.results) < self.plan:
            stopped = f" while running {self.running}" if self.running else ""
            problems.append(f"{len(self.results)} results for a plan of {self.plan}: "
                            f"output stopped{stopped}")
        elif len(self.results) > self.plan:
            problems.append(f"{len(self.results)} results for a plan of {self.plan}")
        for expected, result in enumerate(self.results, start=1):
            if result.number != expected:
                problems.append(f"result '{result.name}' is numbered {result.number}, "
                                f"expected {expected}")
                break
        return problems


def parse(text):
    """Reads KTAP v1 from serial output. Lines before the version line (the
    boot) and lines that are not KTAP are ignored."""
    report = Report()
    pending = []
    for line in text.replace("\r", "").split("\n"):
        line = line.rstrip()
        if line == VERSION_LINE:
            report.version_seen = True
            continue
        if not report.version_seen:
            continue
        if plan := _PLAN.match(line):
            report.plan = int(plan.group(1))
        elif line.startswith("#"):
            pending.append(line[1:].removeprefix(" "))
        elif result := _RESULT.match(line):
            status, number, name, directive = result.groups()
            report.results.append(Result(int(number), name, status == "ok",
                                         directive or "", pending))
            pending = []
    report.trailing = pending
    return report
