"""Chapter 04, testing: every in-kernel test is a pytest item of its own.

The chapter's test kernels declare their tests in the ELF section
kernel_tests and report them in KTAP on serial (see ktap.py). This module
reads the declarations while pytest collects, without booting anything, and
makes one item per in-kernel test, named after its kernel and test:

    pytest harness/test_04_testing.py -k vga_scroll
                                     boots the unit test kernel once, with
                                     the command line tests=vga_scroll_...,
                                     and runs that one test (the whole
                                     harness's -k boots it under UEFI too,
                                     test_uefi.py's item of the same name)

A full run boots each test kernel once and shares its report among the
kernel's items. A failed item shows what the kernel printed about the test
(the failed expectation with both values, file and line, or the panic); a
test that never finished is named, with what happened instead (a hang, a
triple fault, an exit).

Two test kernels fail on purpose: failing_tests, whose tests fail in each
way the framework reports, and hanging_test. Their items pass when the
failure is reported as it should be. Chapters 05 and 06 copy the framework
and build the same two; those are booted and judged here too
(test_later_chapter_...), as their own modules boot only kernels that pass.
A runner could be honest about those tests alone, so the harness also makes
ordinary tests of unit_tests fail and panic while they run, through QEMU's
gdb stub, in each of the three chapters (test_a_..._in_an_ordinary_test_...),
and stops the CPU at the calls an expectation's operand makes, which must
be made once (test_an_expectation_evaluates_its_operand_once).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

import ktap
from build import makefile_values
from chapters import CHAPTERS, all_chapters
from diagnosis import exit_meaning
from elf import ElfFile
from gdb_stub import R8, RCX, RDI, RDX, RIP, RSI, RSP, GdbStub
from machine import EXIT_FAILURE, EXIT_SUCCESS, Machine
from test_02_minimal_kernel import play_a_loader_of_pixels
from vga_screen import CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER
from verdict import KernelFailure, Verdict

CHAPTER = "04-testing"
HANG_TIMEOUT = 1.0  # seconds of QEMU CPU time, for the kernel that hangs on purpose

KERNELS = [
    ktap.TestKernel("unit_tests", EXIT_SUCCESS),
    ktap.TestKernel("basic_boot", EXIT_SUCCESS),
    ktap.TestKernel("should_panic", EXIT_SUCCESS),
    ktap.TestKernel("failing_tests", EXIT_FAILURE),
    ktap.TestKernel("hanging_test", None, timeout=HANG_TIMEOUT),
]
TESTS = ktap.collect(CHAPTER, KERNELS)


def source_line(path: str, text: str, chapter: str = CHAPTER) -> str:
    """`path:N`, N the line of the chapter's source file that holds `text`:
    where the kernel must say a failure happened. Looked up, so that an
    edit above it keeps the test right."""
    lines = (CHAPTERS / chapter / path).read_text().splitlines()
    numbers = [n for n, line in enumerate(lines, start=1)
               if text in line and not line.lstrip().startswith("//")]
    assert len(numbers) == 1, f"expected {text!r} on one line of {path}, found it on lines {numbers}"
    return f"{path}:{numbers[0]}"


@dataclass(frozen=True)
class ExpectedFailure:
    verdict: Verdict
    lines: tuple[str, ...]  # each must appear in the failure's message


def expected_failures(chapter: str = CHAPTER) -> dict[tuple[str, str], ExpectedFailure]:
    """How each test of the kernels that fail on purpose must be reported,
    in this chapter or in a later one, which has the same tests."""
    expectations = "tests/failing_expectations.cpp"

    def line_of(path: str, text: str) -> str:
        return source_line(path, text, chapter)

    panic_at = line_of("tests/failing_panic.cpp", "panic(")
    printable_edges = "EXPECT_EQ(' ', '~')"
    return {
        ("failing_tests", "fails_expect_eq_on_integers"): ExpectedFailure(Verdict.FAIL, (
            f"EXPECT_EQ(sum, 5) failed at {line_of(expectations, 'EXPECT_EQ(sum, 5)')}",
            "  sum: 4", "  5: 5")),
        ("failing_tests", "fails_expect_eq_on_strings"): ExpectedFailure(Verdict.FAIL, (
            f'EXPECT_EQ(greeting, "hello") failed at {line_of(expectations, "EXPECT_EQ(greeting")}',
            '  greeting: "help"', '  "hello": "hello"')),
        ("failing_tests", "fails_expect_true"): ExpectedFailure(Verdict.FAIL, (
            f"EXPECT_TRUE(one > 2) failed at {line_of(expectations, 'EXPECT_TRUE(one > 2)')}",)),
        # A failed EXPECT_NE or EXPECT_FALSE that returned true panics:
        # reported as PANIC, not FAIL.
        ("failing_tests", "fails_expect_ne"): ExpectedFailure(Verdict.FAIL, (
            f"EXPECT_NE(sum, 4) failed at {line_of(expectations, 'if (EXPECT_NE(sum, 4))')}",
            "  sum: 4", "  4: 4")),
        ("failing_tests", "fails_expect_false"): ExpectedFailure(Verdict.FAIL, (
            f"EXPECT_FALSE(one < 2) failed at {line_of(expectations, 'if (EXPECT_FALSE(one < 2))')}",)),
        ("failing_tests", "fails_expect_eq_on_characters"): ExpectedFailure(Verdict.FAIL, (
            f"EXPECT_EQ(grade, 'a') failed at {line_of(expectations, 'EXPECT_EQ(grade')}",
            "  grade: 'b' (0x62)", "  'a': 'a' (0x61)",
            f"{printable_edges} failed at {line_of(expectations, printable_edges)}",
            "  ' ': ' ' (0x20)", "  '~': '~' (0x7e)")),
        ("failing_tests", "fails_by_returning_instead_of_panicking"): ExpectedFailure(Verdict.FAIL, (
            "expected a panic, but fails_by_returning_instead_of_panicking returned",)),
        ("failing_tests", "fails_an_expectation_then_panics"): ExpectedFailure(Verdict.PANIC, (
            f"not ok 1 fails_an_expectation_then_panics: EXPECT_EQ(product, 7) failed at "
            f"{line_of(expectations, 'EXPECT_EQ(product, 7)')}",
            "  product: 6")),
        ("failing_tests", "fails_by_panicking"): ExpectedFailure(Verdict.PANIC, (
            f"KERNEL PANIC at {panic_at}: unexpected, code 7",)),
        ("failing_tests", "not_run_after_a_panic"): ExpectedFailure(Verdict.FAIL, (
            "not run: the kernel panicked in fails_by_panicking",)),
        ("hanging_test", "hangs_in_an_endless_loop"): ExpectedFailure(Verdict.HANG, (
            "hangs_in_an_endless_loop did not finish", "timed out")),
    }


def expected_output() -> dict[tuple[str, str], tuple[str, ...]]:
    """Lines that passing tests must print, besides passing: what the
    kernel itself cannot check."""
    panic_at = source_line("tests/should_panic.cpp", 'panic("on purpose')
    return {
        ("basic_boot", "basic_boot_serial_println_reaches_the_harness"): (
            "basic_boot: serial works, -9223372036854775808 0xffffffffffffffff",),
        ("should_panic", "should_panic_panic_ends_the_test"): (
            f"KERNEL PANIC at {panic_at}: on purpose, code 42",),
    }


if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


@pytest.mark.parametrize("kernel, test", TESTS.params)
def test_in_kernel(request: pytest.FixtureRequest, kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                   test: ktap.DeclaredTest):
    run = kernel_runs.run_of(kernel, test)
    request.node.user_properties.append(("kernel command line", run.command_line or "(none: all tests)"))
    expected = expected_failures().get((kernel.name, test.name))
    if expected is None:
        result = ktap.check_passed(run, test)
        for line in expected_output().get((kernel.name, test.name), ()):
            assert line in result.diagnostics, (
                f"{test.name} passed, but did not print {line!r}; it printed:\n"
                + "\n".join("  # " + d for d in result.diagnostics))
        return
    check_failed_as_expected(run, test, expected)


def check_failed_as_expected(run: ktap.KernelRun, test: ktap.DeclaredTest, expected: ExpectedFailure) -> None:
    """A test that fails on purpose: its failure must be reported as the
    harness reports a real one."""
    __tracebackhide__ = True
    try:
        result = ktap.check_passed(run, test)
    except KernelFailure as caught:
        failure = caught
    else:
        pytest.fail(f"{test.name} must fail, but passed; what it printed:\n"
                    + "\n".join("  # " + d for d in result.diagnostics))
    assert failure.verdict == expected.verdict, (
        f"{test.name} must be reported as {expected.verdict.name}, but was:\n{failure.describe()}")
    for line in expected.lines:
        assert line in failure.describe(), f"the report of {test.name} lacks {line!r}:\n{failure.describe()}"


@pytest.mark.parametrize("kernel", TESTS.kernel_params)
def test_kernel_reports_every_test_and_exits(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel):
    check_whole_runs(kernel_runs, kernel)


def check_whole_runs(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel) -> None:
    """Whole runs: a complete KTAP report of every declared test, in order,
    and the exit status the kernel must end with."""
    __tracebackhide__ = True
    for group, run in kernel_runs.all_runs(kernel):
        if kernel.exit_status is None:
            assert run.failure is not None and run.failure.verdict == Verdict.HANG, (
                f"{kernel.name} must hang, but {run.how_it_ended()[1]}")
            assert run.report.running == group[-1].name
            continue
        run.raise_failure_once(f"the whole run of {kernel.name}")
        problems = run.report.problems()
        assert not problems, f"{kernel.name}: {'; '.join(problems)}\n{run.serial_tail()}"
        assert [r.name for r in run.report.results] == [t.name for t in group], (
            f"{kernel.name} reported other tests than it declares, or in another order")
        assert run.exit_status == kernel.exit_status, ktap.wrong_exit(run)


# --- the framework's copies in chapters 05 and 06 --------------------------------

# Chapters 05 and 06 copy the framework, beside a panic of their own, and
# their modules boot only the test kernels that must pass: there, a runner
# that reported every test as passed would pass them all. Their kernels
# that fail or hang on purpose are judged here, as chapter 4's are.
LATER_CHAPTERS = ["05-cpu-exceptions", "06-double-faults"]
LATER_TESTS = {chapter: ktap.collect(chapter, [kernel for kernel in KERNELS if kernel.exit_status != EXIT_SUCCESS])
               for chapter in LATER_CHAPTERS}
LATER_BUILD_FAILURES = {chapter: tests.build_failure for chapter, tests in LATER_TESTS.items()
                        if tests.build_failure is not None}

if LATER_BUILD_FAILURES:
    @pytest.mark.parametrize("chapter", list(LATER_BUILD_FAILURES))
    def test_later_chapter_builds(chapter: str):
        """Stands in for the tests that could not be collected."""
        raise LATER_BUILD_FAILURES[chapter]


@pytest.fixture(scope="module")
def later_runs(request: pytest.FixtureRequest, shared_boot) -> dict[str, ktap.KernelRuns]:
    return {chapter: ktap.KernelRuns(request, tests, shared_boot) for chapter, tests in LATER_TESTS.items()}


LATER_IN_KERNEL_PARAMS = [
    pytest.param(chapter, kernel, test, id=f"{chapter}-{kernel.name}-{test.name}", marks=tests.same_worker(kernel))
    for chapter, tests in LATER_TESTS.items() for kernel in tests.kernels
    for test in tests.declared.get(kernel.name, [])]

# None where --chapter leaves both chapters out: they are not even built.
if LATER_IN_KERNEL_PARAMS:
    @pytest.mark.parametrize("chapter, kernel, test", LATER_IN_KERNEL_PARAMS)
    def test_later_chapter_reports_a_failure(later_runs: dict[str, ktap.KernelRuns], chapter: str,
                                             kernel: ktap.TestKernel, test: ktap.DeclaredTest):
        run = later_runs[chapter].run_of(kernel, test)
        expected = expected_failures(chapter).get((kernel.name, test.name))
        if expected is None:
            ktap.check_passed(run, test)  # one that passes among those that fail
        else:
            check_failed_as_expected(run, test, expected)


@pytest.mark.parametrize("chapter, kernel", [
    pytest.param(chapter, kernel, id=f"{chapter}-{kernel.name}", marks=tests.same_worker(kernel))
    for chapter, tests in LATER_TESTS.items() for kernel in tests.kernels])
def test_later_chapter_reports_every_test_and_exits(later_runs: dict[str, ktap.KernelRuns], chapter: str,
                                                    kernel: ktap.TestKernel):
    check_whole_runs(later_runs[chapter], kernel)


# --- a failure the kernel does not know of, in an ordinary test ------------------

# failing_tests shows the runner reporting the failures it was written to
# have; a runner honest only there (one that spares tests named fails_*, or
# counts a failure only in a kernel that has such tests) would read every
# real bug of a student's as a pass. So the harness makes ordinary tests of
# the unit_tests kernel fail at run time, through QEMU's gdb stub, and the
# runner must report them as it reports those of failing_tests.

@dataclass(frozen=True)
class PlantedFailure:
    """An expectation that the harness makes fail. It stops the CPU where
    the test's first expectation hands its result to expectations.cpp
    (check_condition or check_comparison, kernel_test.h) and flips the
    first argument, which says whether the condition holds or whether the
    values are wanted equal: from there on the kernel's own code finds the
    expectation failed, and prints it as any other."""
    test: str
    check: str  # the function of expectations.cpp it goes through
    source: str  # the test's file
    expectation: str  # as written in the source, and as the kernel prints it
    first_text: str  # the text of the first value (or the condition), passed in RDX
    shown: tuple[str, ...]  # the lines that show the values, after the failure's

    def failure_line(self, chapter: str) -> str:
        return f"{self.expectation} failed at {source_line(self.source, self.expectation, chapter)}"


PLANTED_FAILURES = [
    PlantedFailure("format_zero", "check_comparison", "tests/format_tests.cpp",
                   'EXPECT_EQ(formatted("{} {:x}", 0, 0u).text(), "0 0x0")', 'formatted("{} {:x}", 0, 0u).text()',
                   ('  formatted("{} {:x}", 0, 0u).text(): "0 0x0"', '  "0 0x0": "0 0x0"')),
    PlantedFailure("selection_option_must_start_a_word", "check_condition", "tests/test_selection_tests.cpp",
                   'EXPECT_TRUE(TestSelection("mytests=format_zero").offending_word().is("mytests=format_zero"))',
                   'TestSelection("mytests=format_zero").offending_word().is("mytests=format_zero")', ()),
]


@pytest.mark.parametrize("directory", [CHAPTER, *LATER_CHAPTERS])
def test_a_failure_in_an_ordinary_test_is_reported_as_one(boot, build, stub, directory):
    """The unit_tests kernel runs all its tests, two of which the harness
    makes fail: those two must be reported not ok, each with its failed
    expectation, every other test ok, and the run must end with failure."""
    built = build.chapter(directory)
    declared = ktap.declared_tests(built.elf("unit_tests"))
    order = [test.name for test in declared]
    by_name = {test.name: test for test in declared}
    missing = [planted.test for planted in PLANTED_FAILURES if planted.test not in by_name]
    assert not missing, f"unit_tests of {directory} declares no test {', '.join(missing)}, which this test makes fail"
    machine = boot(built.iso("unit_tests"), qemu_args=stub.qemu_arguments(), timeout=10)
    for planted in sorted(PLANTED_FAILURES, key=lambda planted: order.index(planted.test)):
        stop_at_expectation(stub, machine, by_name[planted.test], planted, directory)
        stub.write_register(RDI, stub.read_register(RDI) ^ 1)
    stub.detach()
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    problems = report.problems()
    assert not problems and [r.name for r in report.results] == order, (
        f"with {' and '.join(p.test for p in PLANTED_FAILURES)} made to fail, the report of unit_tests is not whole: "
        f"{'; '.join(problems) or 'it names other tests than the kernel declares, or in another order'}"
        f"\n{machine.serial_text}")
    for planted in PLANTED_FAILURES:
        check_planted_failure_reported(report.result(planted.test), planted, directory)
    others = [r.name for r in report.results if not r.ok and r.name not in {p.test for p in PLANTED_FAILURES}]
    assert not others, f"besides the two made to fail, these failed too: {', '.join(others)}\n{machine.serial_text}"
    if status != EXIT_FAILURE:
        pytest.fail(f"two tests were reported not ok, but {exit_meaning(status)}: a run in which any test failed "
                    f"must end with failure (run.all_passed, finish)\n{machine.serial_text}")


def stop_at_expectation(stub: GdbStub, machine: Machine, test: ktap.DeclaredTest, planted: PlantedFailure,
                        chapter: str) -> None:
    """Runs the CPU to where the test's first expectation enters
    expectations.cpp: the first call of that function once the test began."""
    __tracebackhide__ = True
    stub.run_to(test.function)
    stub.run_to(machine.elf.function_named_like(planted.check).value)
    reached = stub.read_string(stub.read_register(RDX))
    assert reached == planted.first_text, (
        f"the first expectation {planted.test} hands to {planted.check} is of {reached!r}, not of "
        f"{planted.first_text!r} as in chapters/{chapter}/{planted.source}")


def check_planted_failure_reported(result: ktap.Result, planted: PlantedFailure, chapter: str) -> None:
    __tracebackhide__ = True
    expected = [planted.failure_line(chapter), *planted.shown]
    printed = "\n".join("  # " + line for line in result.diagnostics)
    if result.ok:
        said = "printed the failure" if expected[0] in result.message else "printed nothing about it"
        pytest.fail(f"the harness made an expectation of {planted.test} fail ({planted.check} was told the opposite), "
                    f"the kernel {said}, and its runner reported 'ok {result.number} {planted.test}': a failed "
                    f"expectation must fail its test, whatever the test and its kernel are called\n{printed}")
    if result.message[:len(expected)] != expected:
        pytest.fail(f"{planted.test} was reported not ok, but without the expectation the harness made fail; "
                    "expected:\n" + "\n".join("  # " + line for line in expected) + f"\nit printed:\n{printed}")


# A runner may be honest about a panic in failing_tests' fails_by_panicking
# alone, too. The harness makes an ordinary test panic, in the middle of
# three selected from three files (so that both compilers run them in this
# order), where its expectation would have been checked.
PANIC_SELECTION = ["format_zero", "selection_option_must_start_a_word", "memcpy_copies_exactly_count_bytes"]


@pytest.mark.parametrize("directory", [CHAPTER, *LATER_CHAPTERS])
def test_a_panic_in_an_ordinary_test_is_reported_as_one(boot, build, stub, directory):
    """As selection_option_must_start_a_word's expectation enters
    check_condition, the CPU goes to begin_panic instead, with the
    expectation's file and line (check_condition's SourceLocation, in RCX
    and R8), and once that returns into the test, to finish_panic: a panic
    as panic() makes one, at that line. The test before must be ok, the
    panicking one not ok with the panic, the one after not ok as not run,
    and the run must end with failure."""
    before, panicking, after = PANIC_SELECTION
    [planted] = [planted for planted in PLANTED_FAILURES if planted.test == panicking]
    built = build.chapter(directory)
    by_name = {test.name: test for test in ktap.declared_tests(built.elf("unit_tests"))}
    machine = boot(built.iso("unit_tests"), command_line="tests=" + ",".join(PANIC_SELECTION),
                   qemu_args=stub.qemu_arguments(), timeout=10)
    stop_at_expectation(stub, machine, by_name[panicking], planted, directory)
    back_in_the_test = int.from_bytes(stub.read_memory(stub.read_register(RSP), 8), "little")
    stub.write_register(RDI, stub.read_register(RCX))
    stub.write_register(RSI, stub.read_register(R8) & 0xFFFFFFFF)
    stub.write_register(RIP, machine.elf.function_named_like("begin_panic").value)
    stub.run_to(back_in_the_test)
    # A call of finish_panic from there: its return address pushed.
    stack = stub.read_register(RSP) - 8
    stub.write_memory(stack, back_in_the_test.to_bytes(8, "little"))
    stub.write_register(RSP, stack)
    stub.write_register(RIP, machine.elf.function_named_like("finish_panic").value)
    stub.detach()
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    assert report.complete and not report.problems() and [r.name for r in report.results] == PANIC_SELECTION, (
        f"with {panicking} made to panic, the report of {', '.join(PANIC_SELECTION)} is not whole: "
        f"{'; '.join(report.problems()) or 'it names other tests, or in another order'}\n{machine.serial_text}")
    panic_line = f"KERNEL PANIC at {source_line(planted.source, planted.expectation, directory)}:"
    # Each test's place in the run: whether it must be ok, the first line it
    # must print if not, and the mistake a wrong report shows.
    expected = {
        before: (True, None, "it passed before the panic"),
        panicking: (False, panic_line, "it panicked (the harness sent its expectation to begin_panic and "
                                       "finish_panic): a test that panics must be reported not ok, whatever it is "
                                       "called"),
        after: (False, f"not run: the kernel panicked in {panicking}",
                f"it never ran, as {panicking} panicked before it: the tests a panic kept from running must be "
                f"reported not ok, whatever they are called"),
    }
    for result in report.results:
        ok, first_line, why = expected[result.name]
        printed = "\n".join("  # " + line for line in result.diagnostics)
        if result.ok != ok:
            pytest.fail(f"{result.name} was reported {'ok' if result.ok else 'not ok'}, but {why}\n{printed}")
        if first_line is not None and result.message[:1] != [first_line]:
            pytest.fail(f"{result.name} was reported not ok, but its first line is not {first_line!r}:\n{printed}")
    if status != EXIT_FAILURE:
        pytest.fail(f"{panicking} panicked, but {exit_meaning(status)}: a run in which a test panicked must end "
                    f"with failure\n{machine.serial_text}")


# --- each operand evaluated once -----------------------------------------------

# The expectations are macros, and a macro that names an operand twice
# evaluates it twice: a test's side effects (a counter, a read of a device
# register) happen twice, and the value checked need not be the value
# shown. Of the kernels' tests, only runtime_tests' memmove tests have such
# an operand (an EXPECT_TRUE that moves text), and no EXPECT_EQ, so the
# harness counts calls instead: the first operand of each of these tests'
# first expectation calls a function of another file once. The CPU is stopped at
# that call, then at the function's next call, which must come from
# elsewhere (the runner, once the test has returned), not from the same
# place again.
# Each: the test, the function (a part of its symbol's name), and its name in words.
SINGLE_EVALUATIONS = [
    ("format_zero", "vformat_to", "vformat_to"),  # EXPECT_EQ(formatted(...).text(), ...)
    # EXPECT_TRUE(TestSelection(...)...): the constructor, which the runner
    # calls for each later test (C2, the base object constructor, which
    # the complete object constructor C1 shares).
    ("selection_option_must_start_a_word", "13TestSelectionC2", "TestSelection's constructor"),
]


@pytest.mark.parametrize("directory", [CHAPTER, *LATER_CHAPTERS])
def test_an_expectation_evaluates_its_operand_once(boot, build, stub, directory):
    built = build.chapter(directory)
    by_name = {test.name: test for test in ktap.declared_tests(built.elf("unit_tests"))}
    machine = boot(built.iso("unit_tests"), command_line="tests=" + ",".join(test for test, _, _ in SINGLE_EVALUATIONS),
                   qemu_args=stub.qemu_arguments(), timeout=10)
    twice = []
    for test, callee, called in SINGLE_EVALUATIONS:  # in the order they run: their files are linked in this order
        stub.run_to(by_name[test].function)
        callers = []
        for _ in range(2):
            stub.run_to(machine.elf.function_named_like(callee).value)
            return_address = int.from_bytes(stub.read_memory(stub.read_register(RSP), 8), "little")
            callers.append((machine.describe_address(return_address) or hex(return_address)).split("+")[0])
            stub.step()  # off the breakpoint's address, which would stop the CPU there again at once
        if callers[0] == callers[1]:
            twice.append(f"{test}'s first expectation calls {called} twice, both times from {callers[0]}")
    stub.detach()
    assert not twice, ("an expectation evaluated its operand twice: " + "; ".join(twice)
                       + ". EXPECT_TRUE, EXPECT_FALSE, EXPECT_EQ and EXPECT_NE must name each argument once "
                       "(kernel_test.h passes it to a function, which takes it by copy)")
    machine.expect_exit_success()


# --- the command line ------------------------------------------------------------

@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter(CHAPTER)


@pytest.mark.parametrize("directory", [d for d in all_chapters() if (CHAPTERS / d / "tests").is_dir()])
def test_every_file_of_tests_is_linked_into_a_test_kernel(build, directory):
    # The harness runs the tests a kernel declares: a file of tests that
    # the Makefile links into no kernel fails nothing, its tests are gone.
    # The kernels built only with UBSAN=1 are not among the session's. Only
    # the kernels the Makefile names count: an ELF left in the build
    # directory by an earlier Makefile may hold what the present one drops.
    chapter = build.chapter(directory)
    [sanitizer_only] = makefile_values(directory, "$(foreach k,$(UBSAN_TEST_KERNELS),$($(k)_SOURCES))")
    linked = {Path(symbol.name).name for kernel in chapter.kernels()
              for symbol in ElfFile(chapter.elf(kernel)).symbols if symbol.type == "FILE"}
    files = {path.name for path in (CHAPTERS / directory / "tests").iterdir() if path.suffix in (".cpp", ".asm")}
    unlinked = sorted(files - linked - {Path(source).name for source in sanitizer_only.split()})
    assert not unlinked, f"chapters/{directory}/Makefile links these into no kernel, so their tests do not run: " \
        + ", ".join(f"tests/{name}" for name in unlinked)


def test_command_line_selects_tests(boot, chapter):
    machine = boot(chapter.iso("unit_tests"), command_line="tests=format_zero,vga_long_line_wraps")
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    assert report.plan == 2 and report.complete, report.problems()
    assert {r.name for r in report.results} == {"format_zero", "vga_long_line_wraps"}
    assert status == EXIT_SUCCESS


def test_a_pass_after_a_failure_leaves_the_run_failed(boot, chapter):
    """Selected without the panic between them, the second of these tests
    runs, and passes. The run fails all the same, for the first: a pass at
    the end must not undo a failure before it. The two are in files linked
    in this order, so both compilers run them in it."""
    machine = boot(chapter.iso("failing_tests"), command_line="tests=fails_expect_true,not_run_after_a_panic")
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    assert report.plan == 2 and report.complete, report.problems()
    assert [(r.name, r.ok) for r in report.results] == [
        ("fails_expect_true", False), ("not_run_after_a_panic", True)], machine.serial_text
    assert status == EXIT_FAILURE, f"exit status {status}, not {EXIT_FAILURE} (failure):\n{machine.serial_text}"


@pytest.mark.parametrize("directory", [CHAPTER, *LATER_CHAPTERS])
def test_a_panic_outside_any_test_fails_the_run(boot, build, stub, directory):
    """A panic in the runner itself, between tests or in its report, has
    no test to blame, and must fail the run all the same, reporting no
    test. The test plays one in basic_boot, whose run passes otherwise:
    once the first test has returned, the runner's first call of
    vformat_to (the start of that test's report) goes to finish_panic
    instead, the half of panic() that calls the runner's panic ending. So
    the play needs to know nothing of where the runner keeps its state,
    only the functions of format.h and panic.h that every runner calls."""
    built = build.chapter(directory)
    first = ktap.declared_tests(built.elf("basic_boot"))[0]
    machine = boot(built.iso("basic_boot"), qemu_args=stub.qemu_arguments())
    stub.run_to(first.function)
    stub.run_to(int.from_bytes(stub.read_memory(stub.read_register(RSP), 8), "little"))  # back in the runner
    stub.run_to(machine.elf.function_named_like("vformat_to").value)
    # At a function's first instruction, as finish_panic's would be: the
    # runner's return address on top of the stack.
    stub.write_register(RIP, machine.elf.function_named_like("finish_panic").value)
    stub.detach()
    status = machine.wait_for_exit()
    reported = [f"{'ok' if r.ok else 'not ok'} {r.number} {r.name}" for r in ktap.parse(machine.serial_text).results]
    assert not reported, (
        f"the runner panicked between tests, and reported {', '.join(reported)}: it must clear the running test "
        f"before it reports it, and end_run_after_panic report no test when none was running\n{machine.serial_text}")
    assert status == EXIT_FAILURE, (
        f"the runner panicked between tests, and {exit_meaning(status)}: end_run_after_panic must fail the run "
        f"when no test was running\n{machine.serial_text}")


# A name no test has fails the run wherever it stands in the list: a
# mistyped name beside a right one must not pass as a run of that one.
@pytest.mark.parametrize("command_line", ["tests=no_such_test", "tests=no_such_test,format_zero",
                                          "tests=format_zero,no_such_test"])
def test_unknown_test_name_fails_the_run(boot, chapter, command_line):
    machine = boot(chapter.iso("unit_tests"), command_line=command_line)
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    # A diagnostic of the report, after its version line (test_04_selection.py).
    assert "tests=: no test is named no_such_test" in report.trailing, (
        f"no diagnostic '# tests=: no test is named no_such_test' in the KTAP report:\n{machine.serial_text}")
    assert report.plan == 0 and not report.results and not report.problems(), (
        f"tests ran beside an unknown name: {[r.name for r in report.results]}; {report.problems()}")
    assert status == EXIT_FAILURE, f"exit status {status}, not {EXIT_FAILURE} (failure)"


# --- a machine without a text screen ---------------------------------------------

@pytest.mark.parametrize("directory", ["04-testing", "05-cpu-exceptions", "06-double-faults"])
def test_a_test_kernel_writes_nothing_to_a_screen_described_as_pixels(boot, build, stub, directory):
    """Under UEFI the screen is a framebuffer of pixels, and 0xb8000 is no
    screen: test_main.cpp tells the writer that there is a text screen only
    where the boot information describes one. QEMU's UEFI machine drops
    writes to 0xb8000, so the test plays that loader under a BIOS, where
    they would show: as kernel_main begins, the framebuffer tag is made to
    describe pixels. should_panic's test on a full screen prints 25 lines
    and panics; none of it may reach 0xb8000, and the writer must not touch
    the VGA's ports either (they may lead nowhere): another register than
    the cursor's is left selected, and must still be at the end."""
    test = "should_panic_on_the_bottom_row"
    machine = boot(build.chapter(directory).iso("should_panic"), command_line=f"tests={test}",
                   qemu_args=stub.qemu_arguments(), exit_device=False, timeout=5)
    play_a_loader_of_pixels(machine, stub)
    machine.write_port(CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    assert f"ok 1 {test}" in machine.serial_lines, f"{test} did not pass:\n{machine.serial_text}"
    screen = machine.screen()
    written = [line for line in screen.lines() if line.startswith(("filling the screen", "KERNEL PANIC"))]
    assert not written, (
        f"the boot information describes pixels, not a text screen, but the test kernel wrote {written[0]!r} "
        f"to 0xb8000 all the same: test_main.cpp must tell the screen's writer it is there only where "
        f"why_no_vga_text_mode() says so\n{screen.render()}")
    selected = machine.read_port(CRTC_INDEX_PORT)
    assert selected == CURSOR_LOCATION_LOW_REGISTER, (
        f"the CRT controller's index port (0x3d4) selects register {selected:#04x}, not "
        f"{CURSOR_LOCATION_LOW_REGISTER:#04x} as the test left it: the test kernel wrote to the VGA's ports "
        "although the boot information describes no text screen")


@pytest.mark.parametrize("directory", ["04-testing", "05-cpu-exceptions", "06-double-faults"])
def test_a_test_that_needs_the_screen_is_skipped_where_there_is_none(boot, build, stub, directory):
    """Under the same play of a loader of pixels, basic_boot's tests that
    read the screen back (KERNEL_TEST_ON_SCREEN) must report themselves
    skipped, as KTAP writes it ("ok N name # SKIP no VGA text mode: ..."),
    the others run and pass, and the run end with success. test_uefi.py
    checks the same under OVMF, in seconds per boot; this BIOS boot is
    chapter 4's own."""
    built = build.chapter(directory)
    declared = ktap.declared_tests(built.elf("basic_boot"))
    on_screen = {test.name for test in declared if test.needs == "vga_text_mode"}
    assert on_screen and len(on_screen) < len(declared), (
        f"basic_boot of {directory} must declare tests that need the screen and tests that do not")
    machine = boot(built.iso("basic_boot"), qemu_args=stub.qemu_arguments(), timeout=5)
    play_a_loader_of_pixels(machine, stub)
    stub.detach()
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)

    def reported_as_it_should(result: ktap.Result) -> bool:
        if result.name in on_screen:
            return result.skipped and result.directive.startswith("SKIP no VGA text mode: ")
        return result.ok and not result.skipped

    wrong = [f"{'ok' if result.ok else 'not ok'} {result.number} {result.name}"
             + (f" # {result.directive}" if result.directive else "")
             for result in report.results if not reported_as_it_should(result)]
    assert not report.problems() and [r.name for r in report.results] == [t.name for t in declared] and not wrong, (
        f"with no text screen, {', '.join(sorted(on_screen))} must be reported 'ok N name # SKIP no VGA text mode: "
        f"...' and every other test run and passed; reported otherwise: "
        f"{'; '.join(report.problems() + wrong) or 'other tests than basic_boot declares'}\n{machine.serial_text}")
    assert status == EXIT_SUCCESS, (
        f"the tests that need the screen were skipped and the others passed, but {exit_meaning(status)}: a "
        f"skipped test is no failure of the run\n{machine.serial_text}")


def test_a_test_kernel_without_a_uart_says_so_on_the_screen(boot, chapter):
    """Its report has nowhere to go, and the screen says so before the
    tests run. Booted without the exit device, so that the screen can be
    read at the end: should_panic's test, which prints nothing but its
    panic."""
    machine = boot(chapter.iso("should_panic"), command_line="tests=should_panic_panic_ends_the_test", uart=False,
                   exit_device=False)
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_lines(["No serial port: test results cannot be reported.",
                                   re.compile(r"KERNEL PANIC at tests/should_panic\.cpp:\d+: on purpose, code 42")])


# --- the normal kernel -----------------------------------------------------------

def test_normal_kernel_reports_on_serial_and_halts(boot, chapter):
    """`make run` still boots the demonstration; it now also writes to
    serial, and shows the command line GRUB passed."""
    machine = boot(chapter.iso(), command_line="hello from grub.cfg")
    machine.wait_for_serial(re.escape('Chapter 4: the serial port works. Command line: "hello from grub.cfg"'))
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_contains(['Serial: COM1 at 115200 baud, 8N1. Command line: "hello from grub.cfg"'])


def test_normal_kernel_says_so_when_no_uart_answers_at_com1(boot, chapter):
    """A machine without a UART: at COM1 the bus reads 0xff, and the kernel
    must tell that no UART is there rather than claim a serial port that
    all its output is lost on."""
    machine = boot(chapter.iso(), uart=False)
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_contains(["Serial: no UART answers at COM1."])


# --- the reading of KTAP, on made-up output ---------------------------------------

def test_ktap_output_without_a_plan_says_so():
    report = ktap.parse("KTAP version 1\n# running first\n")
    assert report.problems() == ["no plan line (1..N): the runner stopped before it counted its tests"]


def test_ktap_output_without_a_version_line_says_the_runner_never_started():
    assert "never started" in ktap.parse("booting...\n").problems()[0]


def test_ktap_output_with_fewer_results_than_planned_names_the_running_test():
    report = ktap.parse("KTAP version 1\n1..3\n# running a\nok 1 a\n# running b\n# half way\n")
    assert report.running == "b"
    assert report.trailing == ["running b", "half way"]
    assert report.problems() == ["only 1 of 3 planned results: output stopped while running b"]


def test_ktap_records_of_another_size_fail_the_chapter_not_the_collection(chapter, tmp_path):
    """A kernel_tests section that is not a whole number of 32-byte records
    (a TestCase without its alignas(32) is 24 bytes) cannot be read. The
    chapter's stand-in item must say so: an exception while pytest collects
    would stop the collection of every module, other chapters' too. (Named
    test_ktap_ as it checks the harness: points.toml gives it no points.)"""
    elf = ElfFile(chapter.elf("unit_tests"))
    index = next(i for i, section in enumerate(elf.sections) if section.name == ktap.SECTION)
    # ELF64: the section headers' offset, their size, and each one's sh_size.
    [headers], [header_size] = struct.unpack_from("<Q", elf.data, 0x28), struct.unpack_from("<H", elf.data, 0x3a)
    data = bytearray(elf.data)
    struct.pack_into("<Q", data, headers + index * header_size + 32, elf.sections[index].size - 8)
    (tmp_path / "unit_tests.elf").write_bytes(data)
    collection = ktap.collect_built("made-up", tmp_path, [ktap.TestKernel("unit_tests", EXIT_SUCCESS)], "")
    assert collection.build_failure is not None and not collection.declared
    assert "not a whole number of 32-byte records" in collection.build_failure.summary, collection.build_failure


def test_ktap_a_name_declared_twice_fails_the_chapter(chapter, tmp_path):
    """KERNEL_TEST's function and record are static, so two files of one
    kernel can each declare a test of the same name: both run, and both
    report under it. Selection by name and the pytest items, one per name,
    cannot tell them apart, and the run passed unnoticed. The test gives
    the second record the first one's name. (test_ktap_: no points.)"""
    elf = ElfFile(chapter.elf("unit_tests"))
    table = next(section for section in elf.sections if section.name == ktap.SECTION)
    first_name, = struct.unpack_from("<Q", elf.data, table.offset)
    data = bytearray(elf.data)
    struct.pack_into("<Q", data, table.offset + ktap.RECORD.size, first_name)
    (tmp_path / "unit_tests.elf").write_bytes(data)
    collection = ktap.collect_built("made-up", tmp_path, [ktap.TestKernel("unit_tests", EXIT_SUCCESS)], "")
    assert collection.build_failure is not None and not collection.declared
    first = ktap.declared_tests(chapter.elf("unit_tests"))[0].name
    assert f"more than one test named {first}" in collection.build_failure.summary, collection.build_failure


def test_ktap_a_test_without_a_name_fails_the_chapter(chapter, tmp_path):
    """KERNEL_TEST() compiles, a test whose name is empty: its result line
    names nothing, and the run stopped short of its plan with "no result
    for :". The test points the first record's name at the empty string
    that ends the second's. (test_ktap_: no points.)"""
    elf = ElfFile(chapter.elf("unit_tests"))
    table = next(section for section in elf.sections if section.name == ktap.SECTION)
    second_name, = struct.unpack_from("<Q", elf.data, table.offset + ktap.RECORD.size)
    second = ktap.declared_tests(chapter.elf("unit_tests"))[1].name
    data = bytearray(elf.data)
    struct.pack_into("<Q", data, table.offset, second_name + len(second))
    (tmp_path / "unit_tests.elf").write_bytes(data)
    collection = ktap.collect_built("made-up", tmp_path, [ktap.TestKernel("unit_tests", EXIT_SUCCESS)], "")
    assert collection.build_failure is not None and not collection.declared
    assert "declares a test without a name" in collection.build_failure.summary, collection.build_failure


# What a broken runner prints, and the harness must not read as a pass.

def test_ktap_results_numbered_otherwise_than_one_by_one_say_so():
    # A runner that counts from 0, or numbers a test before it counts it.
    report = ktap.parse("KTAP version 1\n1..2\nok 0 a\nok 1 b\n")
    assert report.problems() == ["result 'a' is numbered 0, expected 1"]


def test_ktap_more_results_than_planned_say_so():
    # A runner that reports the test that panicked among the tests it
    # did not run.
    report = ktap.parse("KTAP version 1\n1..1\n# running a\nnot ok 1 a\nnot ok 2 a\n")
    assert report.problems() == ["2 results, but only 1 planned"]


def test_ktap_second_plan_line_says_so():
    # A runner that prints its plan, reads its command line, then prints
    # the plan again.
    report = ktap.parse("KTAP version 1\n1..2\n1..2\nok 1 a\nok 2 b\n")
    assert report.problems() == ["2 plan lines, where KTAP has one: the first is 1..2"]


def test_ktap_lines_before_the_version_line_are_not_the_report():
    # A runner that prints its version line after its plan.
    report = ktap.parse("1..1\nKTAP version 1\nok 1 a\n")
    assert report.plan is None and not report.complete, report


def test_ktap_running_test_is_the_last_one_announced():
    # A runner that printed no result for a (the branch of a test that
    # should have panicked, say), then stopped in b: b is the one to blame.
    report = ktap.parse("KTAP version 1\n1..2\n# running a\n# running b\n")
    assert report.running == "b"


def test_ktap_diagnostics_belong_to_the_result_that_follows():
    report = ktap.parse("noise\r\nKTAP version 1\r\n1..1\r\n# running a\r\n# it broke\r\nnot ok 1 a\r\n")
    assert report.complete and not report.problems()
    result = report.result("a")
    assert not result.ok and result.message == ["it broke"]


def made_up_run(serial: str, exit_status: int | None = EXIT_SUCCESS) -> ktap.KernelRun:
    kernel = ktap.TestKernel("made_up", EXIT_SUCCESS)
    return ktap.KernelRun(kernel, None, ktap.parse(serial), exit_status, None, serial)


def test_skipped_test_is_not_a_pass():
    run = made_up_run("KTAP version 1\n1..1\nok 1 a # SKIP no VGA text mode: none here\n")
    with pytest.raises(KernelFailure, match="^FAIL: a was skipped, not run: SKIP no VGA text mode: none here"):
        ktap.check_passed(run, ktap.DeclaredTest("a", "returns"))


def test_ktap_skip_in_lower_case_is_not_a_pass():
    run = made_up_run("KTAP version 1\n1..1\nok 1 a # skip no VGA text mode: none here\n")
    with pytest.raises(KernelFailure, match="^FAIL: a was skipped, not run: skip no VGA text mode"):
        ktap.check_passed(run, ktap.DeclaredTest("a", "returns"))


def test_a_failure_is_summed_up_by_its_reason_not_by_a_report_made_on_purpose():
    # A test that raises exceptions on purpose reports each before whatever
    # went wrong; an expectation that failed before a panic is the reason.
    run = made_up_run("KTAP version 1\n1..2\n# running a\n# EXCEPTION 0 #DE Divide Error\n#   rip=0x1\n"
                      "# KERNEL PANIC at x.cpp:17: unhandled CPU exception\nnot ok 1 a\n"
                      "# running b\n# EXPECT_EQ(p, 7) failed at y.cpp:34\n# KERNEL PANIC at y.cpp:35: as declared\n"
                      "not ok 2 b\n", exit_status=EXIT_FAILURE)
    with pytest.raises(KernelFailure, match="^PANIC: not ok 1 a: KERNEL PANIC at x.cpp:17: unhandled CPU exception\n"):
        ktap.check_passed(run, ktap.DeclaredTest("a", "panics"))
    with pytest.raises(KernelFailure, match=r"^PANIC: not ok 2 b: EXPECT_EQ\(p, 7\) failed at y.cpp:34\n"):
        ktap.check_passed(run, ktap.DeclaredTest("b", "panics"))


def test_ktap_ok_after_a_failed_expectation_is_not_a_pass():
    """A runner that forgets a failed expectation when the test returns
    (or when it panics as it should) reports ok: the expectation's own line
    above it says otherwise."""
    for declared in ("returns", "panics"):
        run = made_up_run("KTAP version 1\n1..1\n# running a\n# EXPECT_EQ(p, 7) failed at y.cpp:34\nok 1 a\n")
        with pytest.raises(KernelFailure, match=r"^FAIL: ok 1 a, after its own EXPECT_EQ\(p, 7\) failed at y.cpp:34\n"
                                                r"hint: the test runner reported a failed expectation as a pass"):
            ktap.check_passed(run, ktap.DeclaredTest("a", declared))
    # Text of the test's own that only looks like it, in the middle of a line, is no expectation.
    run = made_up_run("KTAP version 1\n1..1\n# running a\n# printed: EXPECT_EQ(p, 7) failed at y.cpp:34\nok 1 a\n")
    assert ktap.check_passed(run, ktap.DeclaredTest("a", "returns")).ok


def test_exit_without_a_plan_fails_each_test_saying_so():
    run = made_up_run("KTAP version 1\n", exit_status=EXIT_FAILURE)
    with pytest.raises(KernelFailure, match=r"no result for a: no plan line .*"
                                            r"the kernel reported failure \(isa-debug-exit 0x11, QEMU status 35\)"):
        ktap.check_passed(run, ktap.DeclaredTest("a", "returns"))


def test_exit_with_fewer_results_than_planned_names_the_test_that_stopped():
    run = made_up_run("KTAP version 1\n1..3\n# running a\nok 1 a\n# running b\n")
    with pytest.raises(KernelFailure, match=r"^FAIL: b did not finish: "
                                            r"the kernel exited with success \(isa-debug-exit 0x10, QEMU status 33\)"):
        ktap.check_passed(run, ktap.DeclaredTest("b", "returns"))
    with pytest.raises(KernelFailure, match="no result for c: the kernel stopped in b"):
        ktap.check_passed(run, ktap.DeclaredTest("c", "returns"))
