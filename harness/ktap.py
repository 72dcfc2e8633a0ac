"""The host's side of the in-kernel test framework of chapter 04 on.

A test kernel declares its tests in the ELF section `kernel_tests` (see
chapters/04-testing/kernel_test.h) and reports them on serial in KTAP v1,
the format of Linux's KUnit (Documentation/dev-tools/ktap.rst):

    KTAP version 1
    1..2
    # running vga_scroll
    ok 1 vga_scroll
    # running vga_wrap
    # EXPECT_EQ(row, 24) failed at tests/vga_tests.cpp:40
    #   row: 23
    #   24: 24
    not ok 2 vga_wrap

This module reads both: `declared_tests` the declarations, without booting,
so that pytest can collect one item per in-kernel test; `parse` the report.
On top of them, what a chapter's test module needs to give every in-kernel
test its own verdict:

    KERNELS = [ktap.TestKernel("unit_tests", EXIT_SUCCESS)]
    TESTS = ktap.collect("04-testing", KERNELS)

    @pytest.fixture(scope="module")
    def kernel_runs(request, shared_boot):
        return ktap.KernelRuns(request, TESTS, shared_boot)

    @pytest.mark.parametrize("kernel, test", TESTS.params)
    def test_in_kernel(kernel_runs, kernel, test):
        result = ktap.check_passed(kernel_runs.run_of(kernel, test), test)

KernelRuns boots a kernel once for all its selected tests, with a command
line that selects them when pytest selected only some (-k). A test that
should panic ends the run it is in, so where a kernel has others besides,
it gets a boot of its own.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from build import Builder
from diagnosis import exit_meaning, shortened
from chapters import REPOSITORY, WORKSPACE, all_chapters, build_root, chapter_build, chapter_directory, selected
from elf import SECTION_NOBITS, ElfFile
from machine import DEFAULT_TIMEOUT, UNDEFINED_BEHAVIOUR, Machine
from serial_output import printable
from verdict import KernelFailure, Verdict

# --- the declarations: the kernel_tests section of the ELF -----------------

SECTION = "kernel_tests"

# One record of the section, as kernel_test.h lays it out (its static_asserts
# hold the kernel to this): the address of the name, the address of the
# function, how the test is meant to end, what it needs of the machine,
# padding to 32 bytes.
RECORD = struct.Struct("<QQII8x")
ENDINGS = {0: "returns", 1: "panics"}
NEEDS = {0: "nothing", 1: "vga_text_mode"}


@dataclass(frozen=True)
class DeclaredTest:
    name: str
    ending: str  # "returns" or "panics"
    needs: str = "nothing"  # or "vga_text_mode": skipped on a machine without it
    # The address the runner calls, for a test that stops the CPU there
    # (through the gdb stub); not part of what the test is.
    function: int = field(default=0, compare=False, repr=False)


def _string_at(elf: ElfFile, address: int) -> str:
    """The zero-terminated string at a kernel address, read from the file."""
    for section in elf.sections:
        if (section.type != SECTION_NOBITS and section.address
                and section.address <= address < section.address + section.size):
            start = section.offset + address - section.address
            return elf.data[start:elf.data.index(b"\0", start)].decode()
    raise ValueError(f"{elf.path.name}: address {address:#x} is in no section with contents")


# What most often makes the records unreadable, and so the hint for a
# ValueError of declared_tests that gives none of its own.
RECORD_LAYOUT_HINT = ("kernel_test.h's TestCase must keep the layout its static_asserts give it (32 bytes, "
                      "aligned to 32), which harness/ktap.py reads")


class UnreadableTests(ValueError):
    """Declarations of tests that the harness cannot go by, with a hint
    of their own."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


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
        name_address, function, ending, needs = RECORD.unpack_from(elf.data, offset)
        tests.append(DeclaredTest(_string_at(elf, name_address),
                                  ENDINGS.get(ending, f"unknown ending {ending}"),
                                  NEEDS.get(needs, f"unknown need {needs}"), function))
    names = [test.name for test in tests]
    if "" in names:
        # KERNEL_TEST() compiles: its function is _test, its name empty.
        raise UnreadableTests(f"{elf.path.name} declares a test without a name",
                              "KERNEL_TEST(name) needs a name: tests= selects it by that name, and the "
                              "report names it")
    if twice := sorted({name for name in names if names.count(name) > 1}):
        # KERNEL_TEST's function and record are static: two files of one
        # kernel may each declare a test of the same name, and both run.
        raise UnreadableTests(
            f"{elf.path.name} declares more than one test named {', '.join(twice)}",
            "a test is selected (tests=) and reported by its name: rename one of them")
    return tests


# --- the results: KTAP on serial -------------------------------------------

VERSION_LINE = "KTAP version 1"
# The runner announces each test with this diagnostic before it starts it,
# so that output which stops names the test it stopped in.
RUNNING_PREFIX = "running "
# What expectations.cpp prints of an expectation that failed, as a
# diagnostic: "EXPECT_EQ(p, 7) failed at tests/format_tests.cpp:34".
EXPECTATION_FAILED = re.compile(r"^[A-Z_]+\(.*\) failed at \S+:\d+$")
# Blanks after the count change nothing (Linux's own parser, kunit_parser.py,
# reads no further than the count); the boot waits for this line before it
# gives the tests their time, so a plan it missed would fail a run that passed.
_PLAN = re.compile(r"^1\.\.(\d+)[ \t]*$", re.MULTILINE)
_RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)\s*(?:# (.*))?$")


@dataclass
class Result:
    number: int
    name: str
    ok: bool
    directive: str  # what follows "#" on the result line, or ""
    diagnostics: list[str]  # the "# " lines since the previous result, without "# "

    @property
    def skipped(self) -> bool:
        """KTAP writes a skipped test as ok, with "# SKIP reason". TAP, which
        KTAP extends, takes the directive in any case: a runner that writes
        "# skip" has not run the test either."""
        return self.ok and self.directive.upper().startswith("SKIP")

    @property
    def message(self) -> list[str]:
        """The diagnostics without the runner's own "running" line."""
        return [d for d in self.diagnostics if not d.startswith(RUNNING_PREFIX)]


@dataclass
class Report:
    version_seen: bool = False
    plan: int | None = None  # the first plan line's count
    plan_lines: int = 0
    results: list[Result] = field(default_factory=list)
    # Diagnostics after the last result: what the test that was running
    # when the output stopped had printed.
    trailing: list[str] = field(default_factory=list)

    def result(self, name: str) -> Result | None:
        return next((r for r in self.results if r.name == name), None)

    @property
    def running(self) -> str | None:
        """The test that had started but not finished when output stopped."""
        started = [d[len(RUNNING_PREFIX):] for d in self.trailing if d.startswith(RUNNING_PREFIX)]
        return started[-1] if started else None

    @property
    def complete(self) -> bool:
        return self.plan is not None and len(self.results) == self.plan

    def problems(self) -> list[str]:
        """What is wrong with the report as KTAP, in words; [] if nothing."""
        if not self.version_seen:
            return [f"no '{VERSION_LINE}' line: the test runner never started"]
        if self.plan is None:
            return ["no plan line (1..N): the runner stopped before it counted its tests"]
        problems = []
        if self.plan_lines > 1:
            # A runner that prints its plan again (once more after it read
            # its command line, say) has counted twice: which one is meant?
            problems.append(f"{self.plan_lines} plan lines, where KTAP has one: the first is 1..{self.plan}")
        if len(self.results) < self.plan:
            stopped = f" while running {self.running}" if self.running else ""
            problems.append(f"only {len(self.results)} of {self.plan} planned results: output stopped{stopped}")
        elif len(self.results) > self.plan:
            problems.append(f"{len(self.results)} results, but only {self.plan} planned")
        for expected, result in enumerate(self.results, start=1):
            if result.number != expected:
                problems.append(f"result '{result.name}' is numbered {result.number}, expected {expected}")
                break
        return problems


def parse(text: str) -> Report:
    """Reads KTAP v1 from serial output. Lines before the version line (the
    boot) and lines that are not KTAP are ignored.

    A test whose diagnostics report undefined behaviour failed, whatever its
    result line says: the report is a panic, which a test that should panic
    counts as its pass, but no test expects undefined behaviour (Machine
    fails such a boot's waits for the same reason)."""
    report = Report()
    pending: list[str] = []
    for line in text.replace("\r", "").split("\n"):
        line = line.rstrip()
        if line == VERSION_LINE:
            report.version_seen = True
            continue
        if not report.version_seen:
            continue
        if plan := _PLAN.match(line):
            report.plan_lines += 1
            if report.plan is None:
                report.plan = int(plan.group(1))
        elif line.startswith("#"):
            pending.append(line[1:].removeprefix(" "))
        elif result := _RESULT.match(line):
            status, number, name, directive = result.groups()
            undefined_behaviour = any(UNDEFINED_BEHAVIOUR.search(diagnostic) for diagnostic in pending)
            report.results.append(Result(int(number), name, status == "ok" and not undefined_behaviour,
                                         directive or "", pending))
            pending = []
    report.trailing = pending
    return report


# --- test kernels as pytest items ---------------------------------------------

@dataclass(frozen=True)
class TestKernel:
    __test__ = False  # a description of a kernel, not a pytest test class

    name: str  # build/<chapter>/<name>.iso and .elf
    exit_status: int | None  # what QEMU must end with; None: the kernel must hang
    timeout: float = DEFAULT_TIMEOUT  # seconds of QEMU CPU time for the tests, from the plan on
    boot_timeout: float = DEFAULT_TIMEOUT  # seconds of QEMU CPU time for the whole boot

    def __repr__(self) -> str:  # pytest shows it in a failure
        return self.name


@dataclass
class Collection:
    """What pytest collects: (kernel, test) parameters, or the build failure
    that kept the tests from being read."""
    chapter: str
    images: Path  # where <kernel>.iso (or, for a Multiboot 1 kernel, <kernel>.elf) lies
    kernels: list[TestKernel]
    declared: dict[str, list[DeclaredTest]]
    build_failure: KernelFailure | None

    def same_worker(self, kernel: TestKernel) -> pytest.MarkDecorator:
        """Under pytest-xdist with --dist loadgroup, a kernel's items go to
        one worker, which boots the kernel once for all of them."""
        return pytest.mark.xdist_group(f"{self.chapter}-{kernel.name}")

    def kernel(self, name: str) -> TestKernel:
        return next(kernel for kernel in self.kernels if kernel.name == name)

    @property
    def params(self) -> list:
        """(kernel, test) for each test each kernel declares."""
        return [param for kernel in self.kernels for param in self.params_of(kernel.name)]

    def params_of(self, name: str) -> list:
        """(kernel, test) for each test of the named kernel."""
        kernel = self.kernel(name)
        return [pytest.param(kernel, test, id=f"{kernel.name}-{test.name}", marks=self.same_worker(kernel))
                for test in self.declared.get(kernel.name, [])]

    @property
    def kernel_params(self) -> list:
        """(kernel) for items about a whole kernel."""
        return self.kernel_params_of([kernel.name for kernel in self.kernels])

    def kernel_params_of(self, names: list[str]) -> list:
        """(kernel) for items about the whole of each named kernel."""
        return [pytest.param(self.kernel(name), id=name, marks=self.same_worker(self.kernel(name))) for name in names]


def collect(chapter: str, kernels: list[TestKernel]) -> Collection:
    """Builds the chapter, so that the names come from the current source,
    and reads the tests each kernel declares; for a chapter that --chapter
    leaves out, does neither (its items would be deselected anyway)."""
    if WORKSPACE is not None and chapter not in all_chapters():
        # A workspace holds the chapters its student has begun, and a later
        # chapter's module may import this one's checks (test_06 imports
        # test_05's): a chapter not begun has no tests, and conftest.py
        # deselects its items.
        return Collection(chapter, build_root() / chapter, kernels, {}, None)
    directory = chapter_directory(chapter)
    if not selected(directory):
        return Collection(directory, chapter_build(directory), kernels, {}, None)
    try:
        Builder().chapter(directory)
    except KernelFailure as failure:
        return Collection(directory, chapter_build(directory), kernels, {}, failure)
    return collect_built(directory, chapter_build(directory), kernels,
                         f"are they in TEST_KERNELS of chapters/{directory}/Makefile?")


def collect_built(name: str, images: Path, kernels: list[TestKernel], hint: str) -> Collection:
    """Reads the tests of kernels already built into `images` (the harness's
    own fixtures, or a chapter's after collect built it); `hint` says where
    a missing one should have come from."""
    elves = {k.name: images / f"{k.name}.elf" for k in kernels}
    missing = [kernel for kernel, elf in elves.items() if not elf.exists()]
    if missing:
        return Collection(name, images, kernels, {}, KernelFailure(
            Verdict.BUILD_FAILED, f"make built no {', '.join(missing)} in {images.relative_to(REPOSITORY)}", hint))
    try:
        declared = {kernel: declared_tests(elf) for kernel, elf in elves.items()}
    except ValueError as unreadable:
        # Raised while pytest collects, it would stop the collection of
        # every module; as the collection's failure, it fails the chapter.
        return Collection(name, images, kernels, {}, KernelFailure(
            Verdict.FAIL, f"the tests a kernel declares cannot be read: {unreadable}",
            getattr(unreadable, "hint", RECORD_LAYOUT_HINT)))
    return Collection(name, images, kernels, declared, None)


@dataclass
class KernelRun:
    """One boot of a test kernel, as far as the verdicts need it."""
    kernel: TestKernel
    command_line: str | None
    report: Report
    exit_status: int | None
    failure: KernelFailure | None  # what went wrong instead of an exit, if anything
    serial: str
    machine: Machine | None = None  # the boot, for its artifacts
    qemu_log: str = ""  # QEMU's interrupt log of the boot (interrupt_log.py reads it)
    triple_faulted: bool = False
    failure_reported_by: str | None = None  # the item that raised `failure`

    @property
    def stopped_before_runner(self) -> bool:
        """The boot failed before the test runner counted its tests: none of
        them ran."""
        return self.failure is not None and self.report.plan is None

    def raise_failure_once(self, item: str) -> None:
        """One failure per cause: the first item to ask raises the boot's
        failure; every later one is skipped, naming that item."""
        __tracebackhide__ = True
        if self.failure is None:
            return
        if self.failure_reported_by is None:
            self.failure_reported_by = item
            raise self.failure
        pytest.skip(f"not run: the boot of {self.kernel.name} failed before its test runner started, "
                    f"{self.failure.verdict.name} (reported by {self.failure_reported_by})")

    def serial_tail(self, lines: int = 20) -> str:
        shown = self.serial.splitlines()[-lines:]
        if not shown:
            return "serial output: none"
        return "serial output (last lines):\n" + "\n".join("  " + printable(line) for line in shown)

    def how_it_ended(self) -> tuple[Verdict, str]:
        if self.failure is not None:
            return self.failure.verdict, self.failure.summary
        return Verdict.FAIL, exit_meaning(self.exit_status)


class KernelRuns:
    """Boots each group of a kernel's tests once per session, when the
    first of its items asks. A kernel's tests form one group, except that
    a test that should panic forms a group of its own when there are others:
    its panic ends the run. Only the tests pytest selected are run."""

    def __init__(self, request: pytest.FixtureRequest, collection: Collection, shared_boot, *,
                 firmware: str = "bios"):
        self._boot_machine = shared_boot  # conftest.py's: keeps a failed test's evidence
        self._firmware = firmware
        self._session = request.session
        self._module = request.module.__name__
        self._collection = collection
        self._runs: dict[tuple[str, str | None], KernelRun] = {}

    def _runs_alone(self, kernel: TestKernel, test: DeclaredTest) -> bool:
        return test.ending == "panics" and len(self._collection.declared[kernel.name]) > 1

    def groups(self, kernel: TestKernel) -> list[list[DeclaredTest]]:
        """The kernel's tests, grouped by boot."""
        declared = self._collection.declared[kernel.name]
        together = [t for t in declared if not self._runs_alone(kernel, t)]
        alone = [[t] for t in declared if self._runs_alone(kernel, t)]
        return ([together] if together else []) + alone

    def run_of(self, kernel: TestKernel, test: DeclaredTest) -> KernelRun:
        """The boot whose report has this test's result."""
        key = self._key(kernel, test)
        if key not in self._runs:
            # A kernel that stopped before its test runner once does so
            # again: its other groups are not booted, they share that run.
            failed = next((run for (name, _), run in self._runs.items()
                           if name == kernel.name and run.stopped_before_runner), None)
            group = next(g for g in self.groups(kernel) if test in g)
            self._runs[key] = failed or self._boot(kernel, self._command_line(kernel, group))
        return self._runs[key]

    def _key(self, kernel: TestKernel, test: DeclaredTest) -> tuple[str, str | None]:
        return kernel.name, test.name if self._runs_alone(kernel, test) else None

    @property
    def boots(self) -> int:
        """How many times a kernel was booted so far."""
        return len({id(run) for run in self._runs.values()})

    def machines_of(self, item: pytest.Item) -> list[Machine]:
        """The machines whose runs an item of this module looked at, for its
        artifacts: the run of its (kernel, test), or every run of its kernel.
        Nothing for an item of another chapter, in a module with the runs
        of several (a dict of them by chapter, as test_uefi.py keeps): its
        kernel may not be this chapter's, or be another of the same name."""
        params = item.callspec.params if hasattr(item, "callspec") else {}
        kernel, test = params.get("kernel"), params.get("test")
        chapter = params.get("chapter", self._collection.chapter)
        if not isinstance(kernel, TestKernel) or chapter != self._collection.chapter:
            return []
        if isinstance(test, DeclaredTest):
            runs = [self._runs.get(self._key(kernel, test))]
        else:
            runs = [run for (name, _), run in self._runs.items() if name == kernel.name]
        machines = []
        for run in runs:
            if run is not None and run.machine is not None and run.machine not in machines:
                machines.append(run.machine)
        return machines

    def all_runs(self, kernel: TestKernel) -> list[tuple[list[DeclaredTest], KernelRun]]:
        """Every group of the kernel with its run."""
        return [(group, self.run_of(kernel, group[0])) for group in self.groups(kernel)]

    def _selected(self, kernel: TestKernel) -> set[str] | None:
        """Names of the kernel's tests pytest selected; None for all (when
        an item about the whole kernel was selected too)."""
        names: set[str] = set()
        for item in self._session.items:
            params = item.callspec.params if hasattr(item, "callspec") else {}
            if item.module is None or item.module.__name__ != self._module or params.get("kernel") != kernel:
                continue
            if "test" not in params:
                return None
            names.add(params["test"].name)
        return names

    def _command_line(self, kernel: TestKernel, group: list[DeclaredTest]) -> str | None:
        """tests=a,b for the group's selected tests; None when that is all
        the kernel declares."""
        selected = self._selected(kernel)
        names = [t.name for t in group if selected is None or t.name in selected] or [t.name for t in group]
        if names == [t.name for t in self._collection.declared[kernel.name]]:
            return None
        return "tests=" + ",".join(names)

    def _boot(self, kernel: TestKernel, command_line: str | None) -> KernelRun:
        image = self._collection.images / f"{kernel.name}.iso"
        if not image.exists():
            image = image.with_suffix(".elf")
        machine = self._boot_machine(image, command_line=command_line, name=kernel.name, firmware=self._firmware,
                                     timeout=kernel.boot_timeout)
        failure = None
        try:
            # The boot takes what it takes on a loaded machine; the tests get
            # their own time limit, from the plan on.
            machine.wait_for_serial(_PLAN)
            machine.wait_for_exit(timeout=kernel.timeout)
        except KernelFailure as caught:
            failure = caught
        return KernelRun(kernel, command_line, parse(machine.serial_text), machine.exit_status, failure,
                         machine.serial_text, machine, machine.qemu_log(), machine.triple_faulted)


def check_whole_run(run: KernelRun, group: list[DeclaredTest], skipped: frozenset[str] = frozenset()) -> None:
    """For a kernel whose tests must all pass: no failure of the boot (the
    first item to ask raises it, later ones are skipped), no triple fault,
    a complete KTAP report of the group's tests, each passed, in order, and
    the exit status the kernel must end with. The tests named in `skipped`
    may report themselves skipped instead (those a machine cannot run:
    test_uefi.py checks each one's reason)."""
    __tracebackhide__ = True
    run.raise_failure_once(f"the whole run of {run.kernel.name}")
    assert not run.triple_faulted, f"{run.kernel.name} triple-faulted\n{run.serial_tail()}"
    problems = run.report.problems()
    assert not problems, f"{run.kernel.name}: {'; '.join(problems)}\n{run.serial_tail()}"
    reported_names, declared_names = [r.name for r in run.report.results], [t.name for t in group]
    assert reported_names == declared_names, (
        f"{run.kernel.name} reported other tests than it declares, or in another order: "
        + _name_differences(reported_names, declared_names) + f"\n{run.serial_tail()}")
    failed = [r.name for r in run.report.results if not r.ok or r.skipped and r.name not in skipped]
    assert not failed, f"{run.kernel.name}: failed {', '.join(failed)}\n{run.serial_tail()}"
    assert run.exit_status == run.kernel.exit_status, wrong_exit(run)


def wrong_exit(run: KernelRun) -> str:
    """A whole run that ended otherwise than its kernel must, in words: the
    statuses alone (33, 35) are numbers to look up."""
    return f"{run.kernel.name}: {exit_meaning(run.exit_status)}, where it must end as: " \
           f"{exit_meaning(run.kernel.exit_status)}\n{run.serial_tail()}"


def _name_differences(reported: list[str], declared: list[str]) -> str:
    """What tells a report's test names from the declared ones, in words."""
    differences = [f"{what}: {', '.join(names)}" for what, names in (
        ("not declared", [name for name in reported if name not in declared]),
        ("not reported", [name for name in declared if name not in reported]),
        ("reported twice", sorted({name for name in reported if reported.count(name) > 1})))
        if names]
    return "; ".join(differences) or f"reported in the order {', '.join(reported)}"


def check_every_run_passed(runs: KernelRuns, kernel: TestKernel) -> None:
    """check_whole_run for each boot of a kernel whose tests must all pass."""
    __tracebackhide__ = True
    for group, run in runs.all_runs(kernel):
        check_whole_run(run, group)


def skipped_failure(result: Result) -> KernelFailure:
    return KernelFailure(Verdict.FAIL, f"{result.name} was skipped, not run: {result.directive}",
                         "a skipped test proves nothing; it runs only on a machine that has what it needs")


def check_passed(run: KernelRun, test: DeclaredTest) -> Result:
    """The test's result, if it passed; otherwise a KernelFailure that says
    what the kernel said about it, or why it never said anything."""
    __tracebackhide__ = True
    result = reported(run, test)
    if not result.ok:
        panicked = any(line.startswith("KERNEL PANIC") for line in result.message)
        reason = printable(shortened(failure_reason(result.message)))
        raise KernelFailure(Verdict.PANIC if panicked else Verdict.FAIL,
                            f"not ok {result.number} {test.name}: {reason}",
                            "the kernel's own report of the failure follows",
                            "\n".join("  # " + printable(line) for line in result.diagnostics))
    # A test whose expectation failed is not ok, should it panic or not
    # (kernel_test.cpp): an "ok" after one is the runner's mistake, which
    # would pass every test a student's code fails.
    failed = [line for line in result.message if EXPECTATION_FAILED.match(line)]
    if failed:
        raise KernelFailure(Verdict.FAIL, f"ok {result.number} {test.name}, after its own "
                                          f"{printable(shortened(failed[0]))}",
                            "the test runner reported a failed expectation as a pass: "
                            "a test with a failed expectation must be reported not ok",
                            "\n".join("  # " + printable(line) for line in result.diagnostics))
    return result


def failure_reason(message: list[str]) -> str:
    """The first line of a failed test's message that is not part of an
    exception report: a test that raises exceptions on purpose reports
    each (EXCEPTION N, then indented fields) before whatever went wrong."""
    reasons = [line for line in message if not line.startswith(("EXCEPTION ", " "))]
    return (reasons or message or ["(the kernel printed no reason)"])[0]


def reported(run: KernelRun, test: DeclaredTest) -> Result:
    """The test's result, ok or not ok; a KernelFailure if the kernel never
    gave one, or skipped the test."""
    __tracebackhide__ = True
    if run.stopped_before_runner:
        run.raise_failure_once(test.name)
    report = run.report
    result = report.result(test.name)
    if result is None:
        verdict, ended = run.how_it_ended()
        if not report.version_seen or report.plan is None:
            summary = f"no result for {test.name}: {report.problems()[0]}; {ended}"
        elif report.running == test.name:
            summary = f"{test.name} did not finish: {ended}"
        elif report.running is not None:
            summary = f"no result for {test.name}: the kernel stopped in {report.running}; {ended}"
        else:
            problems = report.problems() or ["the report does not mention it"]
            summary = f"no result for {test.name}: {problems[0]}; {ended}"
        printed = "\n".join("  # " + printable(line) for line in report.trailing)
        hint = run.failure.hint if run.failure is not None else "the serial output shows how far the kernel got"
        raise KernelFailure(verdict, summary, hint,
                            (f"what the test printed:\n{printed}\n\n" if printed else "") + run.serial_tail())
    if result.skipped:
        raise skipped_failure(result)
    return result
