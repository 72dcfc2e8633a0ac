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

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

# --- the declarations: the kernel_tests section of the ELF -----------------

SECTION = "kernel_tests"

# One record of the section, as kernel_test.h lays it out (its static_asserts
# hold the kernel to this): the address of the name, the address of the
# function, the ending the test expects, padding to 32 bytes.
RECORD = struct.Struct("<QQI12x")
ENDINGS = {0: "returns", 1: "panics"}

SHT_NOBITS = 8
SHF_ALLOC = 0x2


@dataclass(frozen=True)
class DeclaredTest:
    name: str
    ending: str  # "returns" or "panics"


@dataclass(frozen=True)
class _Section:
    name: str
    kind: int
    flags: int
    address: int
    offset: int
    size: int


def _sections(image):
    if image[:4] != b"\x7fELF" or image[4] != 2 or image[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    section_table, = struct.unpack_from("<Q", image, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", image, 0x3A)
    raw = [struct.unpack_from("<IIQQQQ", image, section_table + i * entry_size)
           for i in range(count)]
    names_offset = raw[names_index][4]

    def name_at(offset):
        start = names_offset + offset
        return image[start:image.index(b"\0", start)].decode()

    return [_Section(name_at(n), kind, flags, address, offset, size)
            for n, kind, flags, address, offset, size in raw]


def _string_at(image, sections, address):
    """The zero-terminated string at a kernel address, read from the file."""
    for s in sections:
        if (s.flags & SHF_ALLOC and s.kind != SHT_NOBITS
                and s.address <= address < s.address + s.size):
            start = s.offset + address - s.address
            return image[start:image.index(b"\0", start)].decode()
    raise ValueError(f"address {address:#x} is in no loaded section")


def declared_tests(elf_path):
    """The tests a kernel ELF declares, in the order its runner runs them."""
    image = Path(elf_path).read_bytes()
    sections = _sections(image)
    table = next((s for s in sections if s.name == SECTION), None)
    if table is None:
        return []
    if table.size % RECORD.size:
        raise ValueError(f"{elf_path}: section {SECTION} is {table.size} bytes, "
                         f"not a whole number of {RECORD.size}-byte records")
    tests = []
    for offset in range(table.offset, table.offset + table.size, RECORD.size):
        name_address, _function, ending = RECORD.unpack_from(image, offset)
        tests.append(DeclaredTest(_string_at(image, sections, name_address),
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
