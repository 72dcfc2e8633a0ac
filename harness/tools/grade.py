"""Instructors' grading: a checkout's chapters get points from the tests.

    make grade [REPO=path/to/student/clone]
    /usr/bin/python3 harness/tools/grade.py --repo PATH [--points FILE] [--json FILE]
        [--chapters 02,03] [--chapter-timeout SECONDS] [--keep]

The checkout is never touched. It is copied, without its build/ and .git,
into a temporary directory, and the copy is graded. A symbolic link that
leads out of the checkout is left out of the copy, and the table says so.
The copy's harness/ is replaced by this repository's: the tests are the
instructors', and a test that a student changed cannot grade itself. So are
the files of in-kernel tests, chapters/NN/tests/, that this repository has,
and common/host/: the machine every boot gets (qemu-machine.args,
qemu-uefi.args) and the tools the harness requires (requirements.tsv). A
student who dropped -no-reboot or isa-debug-exit, added a device or chose
another accelerator there would be graded on a machine of their choosing;
the table notes a checkout whose common/host/ differs.

Everything else is the student's: the chapters, their test runners and
Makefiles, and the rest of common/, which builds the kernel (kernel.mk,
toolchain.mk, linker.ld, runtime.cpp, ubsan.cpp) and its image
(make-iso.sh and grub.cfg.in, with which the harness also makes the images
that pass a kernel its command line). They make the kernel that is graded,
the tests check what they make (the layout the linker script promises, the
image's boot records), and what a change to them could do to pass a test,
a change to the kernel's source could do as well: the instructors' copies
would grade a build the student did not write, and stop no cheat.

Each chapter is built first, with make, as a student builds it: a chapter
whose kernels do not build earns nothing, not even from the tests that
check its sources on the host (chapter 3's format checks compile
format.cpp alone). The build runs within the harness's own limits
(build.py's BUILD_LIMITS: CPU time, wall time, file size, memory, disk
space), so that a source that would write gigabytes, eat the memory or
keep the compiler busy for ever costs its chapter in seconds, with the
limit named in the table and the JSON. Then its test modules
(harness/test_NN_*.py, or those the points file names) run in a pytest of
their own that writes JUnit XML.
Every boot has its time limit in the harness; the chapter as a whole has
one more (--chapter-timeout), for its build and tests together, so that a
build or a kernel that stalls in a way no boot's limit catches costs that
chapter its points, and grading goes on with the next.

Which tests grade a chapter is the instructors' word, not the checkout's:
the tests that these modules collect in this repository, where grade.py
lives, with its own chapters built. From chapter 4 on, the in-kernel tests
are collected from the kernels' ELF files, so a student who deleted the
ones that fail would otherwise share their points among the rest: a test
of this repository that the checkout's run lacks counts as failed, and one
that only the checkout has (a test a student added) is shown but earns
nothing. The same holds when pytest stopped before the end (status 2,
interrupted, or 3, an internal error): the tests it did not run count as
failed, and the table says why.

The points come from a TOML file (harness/points.toml, whose comments say
how a chapter's points are shared among its tests). The result is printed as
a table, each chapter's tests and then the chapters with the total, and
written as JSON (build/grade.json of this repository unless --json says
otherwise).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field, replace
from pathlib import Path

HARNESS = Path(__file__).resolve().parent.parent
REPOSITORY = HARNESS.parent
# KERNEL_WORKSPACE=DIR makes the harness test DIR's chapters (chapters.py):
# left set, it would grade that workspace, for the checkout and for the
# instructors' tests alike. Gone before the harness's modules read it, and
# for every pytest this grading starts.
os.environ.pop("KERNEL_WORKSPACE", None)
# The harness's builder, for the instructors' own chapters (this repository's).
sys.path.insert(0, str(HARNESS))
from build import BUILD_LIMITS, Builder, make_within_limits  # noqa: E402
from verdict import KernelFailure  # noqa: E402

DEFAULT_POINTS = HARNESS / "points.toml"
DEFAULT_JSON = REPOSITORY / "build" / "grade.json"
# Generous: a chapter's build and tests take well under a minute, and a
# hanging boot is stopped by its own limit (30 s of wall time at most).
DEFAULT_CHAPTER_TIMEOUT = 300.0
STOP_GRACE_SECONDS = 5.0  # after SIGTERM, before SIGKILL
MESSAGE_WIDTH = 110
MESSAGE_LINES = 3  # of a failed test's reason in the table; the JSON has it whole
# pytest-xdist's --dist loadgroup ends a test's name with its group:
# test_in_kernel[unit_tests-a]@04-testing-unit_tests.
XDIST_GROUP = re.compile(r"@[^\[\]@]*$")
# What pytest's exit statuses other than 0 (all passed) and 1 (some failed) mean.
PYTEST_STATUS = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


# --- the points file ----------------------------------------------------------

class PointsFileError(Exception):
    pass


@dataclass(frozen=True)
class ChapterPoints:
    """What one chapter is worth, as the points file says."""
    name: str  # as written in the file: "03-vga-text" or "03"
    points: float
    patterns: dict[str, float]  # in the order written
    modules: tuple[str, ...] = ()  # the test modules that grade it; () for harness/test_NN_*.py
    # pattern -> patterns of the tests that must all pass for its tests to count
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.name[:2]


def load_points(path: Path) -> list[ChapterPoints]:
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PointsFileError(f"{path}: {error}") from error
    chapters = table.get("chapters")
    if not isinstance(chapters, dict) or not chapters:
        raise PointsFileError(f"{path}: no [chapters.NN-name] tables")
    result = []
    for name, entry in chapters.items():
        where = f"{path}: chapter {name}"
        if not re.match(r"\d\d(-|$)", name):
            raise PointsFileError(f"{where}: a chapter is named by its directory (03-vga-text) or number (03)")
        points = entry.get("points")
        patterns = entry.get("tests", {})
        modules = entry.get("modules", [])
        requires = entry.get("requires", {})
        unknown = set(entry) - {"points", "tests", "modules", "requires"}
        if unknown:
            raise PointsFileError(f"{where}: unknown keys {sorted(unknown)}; a chapter has points, tests, "
                                  "modules and requires")
        if not isinstance(requires, dict) or not all(
                isinstance(needed, list) and needed and all(isinstance(p, str) for p in needed)
                for needed in requires.values()):
            raise PointsFileError(f"{where}: requires must map patterns to lists of patterns")
        if not isinstance(modules, list) or not all(isinstance(m, str) and m.endswith(".py") for m in modules):
            raise PointsFileError(f"{where}: modules must be a list of test module file names")
        if not _is_points(points):
            raise PointsFileError(f"{where}: points must be a number of at least 0, not {points!r}")
        if not isinstance(patterns, dict) or not all(_is_points(p) for p in patterns.values()):
            raise PointsFileError(f"{where}: tests must map patterns to numbers of at least 0")
        if sum(patterns.values()) > points:
            raise PointsFileError(f"{where}: its patterns have {sum(patterns.values())} points, "
                                  f"more than the chapter's {points}")
        result.append(ChapterPoints(name, float(points), {p: float(v) for p, v in patterns.items()},
                                    tuple(modules), {p: tuple(needed) for p, needed in requires.items()}))
    numbers = [chapter.number for chapter in result]
    if len(set(numbers)) != len(numbers):
        raise PointsFileError(f"{path}: a chapter is listed twice")
    return sorted(result, key=lambda chapter: chapter.number)


def _is_points(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """* stands for any text; every other character for itself (unlike a
    glob, where the brackets of test_x[param] would be a character class)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


# --- one chapter's test run ---------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    name: str  # as pytest shows it: test_in_kernel[unit_tests-format_zero]
    passed: bool
    message: str  # the first line of what went wrong; "" when it passed


@dataclass(frozen=True)
class ChapterRun:
    outcomes: list[Outcome]
    problem: str  # why the run gave no results or was cut short; "" if it ran to the end


def read_junit(path: Path, qualified: bool = False) -> list[Outcome]:
    """Each test's outcome. A test that failed in one phase and passed in
    another (a teardown error) failed; a skipped test earns nothing either.
    `qualified` names each test after its module too (test_ubsan::test_x),
    for a chapter graded by several modules, whose names may repeat."""
    passed: dict[str, bool] = {}
    messages: dict[str, str] = {}
    for case in ElementTree.parse(path).iter("testcase"):
        name = XDIST_GROUP.sub("", case.get("name", ""))
        if qualified:
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{name}"
        bad = [child for child in case if child.tag in ("failure", "error", "skipped")]
        passed[name] = passed.get(name, True) and not bad
        if bad and name not in messages:
            lines = (bad[0].get("message") or bad[0].text or "").strip().splitlines()
            first_line = lines[0] if lines else bad[0].tag
            # The harness's failures begin with their verdict; the class name before it says nothing.
            messages[name] = first_line.removeprefix("verdict.KernelFailure: ")
    # Sorted, because pytest-xdist reports tests in the order they finish.
    return [Outcome(name, passed[name], messages.get(name, "")) for name in sorted(passed)]


def stop(process: subprocess.Popen) -> None:
    """Ends a chapter's make or pytest and every process it started (its
    own process group; QEMU dies with the harness process that started it)."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def run_limited(command: list[str], checkout: Path, log: Path, timeout: float) -> int | None:
    """Runs a command in the copy, its output into log; its exit status, or
    None when it was stopped at the time limit."""
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=checkout, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            return None
        except BaseException:  # Ctrl-C: the run is in a session of its own and did not get it
            stop(process)
            raise


def stopped(timeout: float) -> str:
    return f"stopped after {timeout:g} s, the chapter's time limit"


def build_problem(checkout: Path, name: str, results: Path, timeout: float) -> str:
    """Why the chapter's kernels do not build with `make -C chapters/DIR`, or
    "" when they do (or when there is no such chapter, which pytest's
    --chapter reports). The harness's own make then finds them up to date."""
    directories = sorted((checkout / "chapters").glob(f"{name[:2]}-*"))
    if not directories:
        return ""
    directory = directories[0].relative_to(checkout)
    # The harness's own command, in the same environment, so that the same
    # variables (make grade CXX=g++) build the same kernels; within the
    # harness's limits (build.py), and the chapter's time if that is less.
    command = ["make", "--no-print-directory", f"--jobs={os.cpu_count() or 1}", "-C", str(directory)]
    limits = replace(BUILD_LIMITS, wall_seconds=min(BUILD_LIMITS.wall_seconds, timeout))
    started = time.monotonic()
    try:
        make_within_limits(command, str(directory), results / f"{name}-build.log", limits, checkout=checkout,
                           failed="does not build, so no test counts")
    except KernelFailure as failure:
        return stopped(timeout) if time.monotonic() - started >= timeout else failure.summary
    return ""


def run_chapter(checkout: Path, name: str, modules: list[Path], results: Path, timeout: float) -> ChapterRun:
    """Builds a chapter in the copy and runs its test modules under pytest,
    both within the chapter's time limit."""
    started = time.monotonic()
    problem = build_problem(checkout, name, results, timeout)
    if problem:
        return ChapterRun([], problem)
    junit = results / f"{name}.xml"
    log = results / f"{name}.log"
    # --chapter: a module that tests several chapters (test_cpu_state.py)
    # gives this one only its own items, and only this chapter is built.
    # In parallel, each test kernel booted once for all its items (pytest.ini).
    # -P: python -m would put the working directory, the checkout, first on
    # sys.path, and a pytest.py there would run in place of pytest.
    command = [sys.executable, "-P", "-m", "pytest", *(f"harness/{module.name}" for module in modules),
               "--chapter", name[:2], "-q", f"--junitxml={junit}"]
    status = run_limited(command, checkout, log, timeout - (time.monotonic() - started))
    if status is None:
        return ChapterRun([], stopped(timeout))
    outcomes = read_junit(junit, qualified=len(modules) > 1) if junit.exists() else []
    # 0: all passed, 1: some failed; anything else means pytest did not run
    # them all, and the outcomes it wrote are those of the tests it ran.
    if status in (0, 1) and outcomes:
        return ChapterRun(outcomes, "")
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    meaning = PYTEST_STATUS.get(status, "unknown status")
    last_line = lines[-1] if lines else "no output"
    return ChapterRun(outcomes, f"pytest exited with status {status} ({meaning}): {last_line}")


# --- the instructors' tests -------------------------------------------------------

class ReferenceFailure(Exception):
    """The instructors' own repository cannot say which tests grade a chapter."""


def junit_name(node_id: str, qualified: bool) -> str:
    """A test's name as read_junit gives it, from pytest's node id
    (test_04_testing.py::test_in_kernel[unit_tests-format_zero])."""
    module, *_, name = node_id.split("::")
    return f"{Path(module).stem}::{name}" if qualified else name


def reference_tests(chapter: ChapterPoints, modules: list[Path]) -> list[str]:
    """The tests that grade the chapter in this repository, the
    instructors': its chapter built (a test kernel's in-kernel tests are
    read from its ELF), then its test modules collected as the checkout's
    run collects them."""
    try:
        Builder().chapter(chapter.number)
    except (KernelFailure, ValueError) as failure:
        raise ReferenceFailure(f"the instructors' repository {REPOSITORY} cannot say which tests grade "
                               f"chapter {chapter.name}: {str(failure).splitlines()[0]}") from failure
    command = [sys.executable, "-P", "-m", "pytest", *(f"harness/{module.name}" for module in modules),
               "--chapter", chapter.number, "--collect-only", "-q", "-n", "0"]
    try:
        result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True,
                                timeout=DEFAULT_CHAPTER_TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        raise ReferenceFailure(f"collecting the tests of chapter {chapter.name} in the instructors' repository "
                               f"{REPOSITORY} took more than {DEFAULT_CHAPTER_TIMEOUT:g} s") from timeout
    node_ids = [line for line in result.stdout.splitlines() if "::" in line]
    if result.returncode != 0 or not node_ids:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        raise ReferenceFailure(f"the tests of chapter {chapter.name} in the instructors' repository {REPOSITORY} "
                               f"cannot be collected, pytest exited with status {result.returncode}: "
                               f"{lines[-1] if lines else 'no output'}")
    return sorted({junit_name(node_id, qualified=len(modules) > 1) for node_id in node_ids})


# --- points for a run -----------------------------------------------------------

@dataclass
class GradedTest:
    outcome: Outcome
    possible: float

    @property
    def earned(self) -> float:
        return self.possible if self.outcome.passed else 0.0


@dataclass
class ChapterGrade:
    chapter: ChapterPoints
    tests: list[GradedTest]
    notes: list[str] = field(default_factory=list)  # points that no test could earn, and why
    problem: str = ""  # why the run gave no results or was cut short, as ChapterRun has it

    @property
    def possible(self) -> float:
        return self.chapter.points

    @property
    def earned(self) -> float:
        return sum(test.earned for test in self.tests)


def matches(pattern: str, name: str) -> bool:
    """A pattern without "::" matches a test's name without its module."""
    return bool(pattern_regex(pattern).fullmatch(name if "::" in pattern else name.split("::")[-1]))


def with_requirements(chapter: ChapterPoints, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes, with each passed test that a `requires` pattern
    matches counted as failed when a test it requires (other than itself)
    failed or is not there (each pattern must match a test): the in-kernel
    results are the word of the student's own test runner, and count only
    when the runner is shown to report a failure as one, in each way the
    patterns name."""
    result = []
    for outcome in outcomes:
        for pattern, needed in chapter.requires.items():
            if not outcome.passed or not matches(pattern, outcome.name) or \
                    any(matches(p, outcome.name) for p in needed):
                continue
            required = [other for other in outcomes if any(matches(p, other.name) for p in needed)]
            failed = [other.name for other in required if not other.passed]
            absent = [p for p in needed if not any(matches(p, other.name) for other in required)]
            if failed or absent:
                why = f"{failed[0]} failed" if failed else f"there is no {absent[0]}"
                outcome = Outcome(outcome.name, False, f"passed, but counts only when {', '.join(needed)} "
                                                       f"pass, and {why}")
        result.append(outcome)
    return result


MISSING = "not in the checkout's run, but the instructors' repository has this test: it counts as failed"
NOT_IN_REFERENCE = "the instructors' repository has no such test: it earns nothing"


def grade_chapter(chapter: ChapterPoints, run: ChapterRun, reference: list[str] | None = None) -> ChapterGrade:
    """Shares the chapter's points among its tests, as points.toml explains.
    With `reference`, the names of the instructors' tests of the chapter,
    those are its tests: one the run lacks failed, one only the run has
    earns nothing (unless the run has no results at all: it earns nothing
    anyway, and its problem says why)."""
    outcomes = run.outcomes
    grade = ChapterGrade(chapter, [], problem=run.problem)
    if run.problem:
        grade.notes.append(run.problem)
    extra: list[Outcome] = []
    if reference is not None and outcomes:
        ran = {outcome.name for outcome in outcomes}
        missing = [Outcome(name, False, MISSING) for name in reference if name not in ran]
        if missing:
            grade.notes.append(f"{len(missing)} of the instructors' tests are not in the checkout's run "
                               "and count as failed")
        known = set(reference)
        extra = [outcome for outcome in outcomes if outcome.name not in known]
        outcomes = sorted([outcome for outcome in outcomes if outcome.name in known] + missing,
                          key=lambda outcome: outcome.name)

    groups: list[tuple[str, float, list[Outcome]]] = [
        (pattern, points, []) for pattern, points in chapter.patterns.items()]
    rest: list[Outcome] = []
    for outcome in with_requirements(chapter, outcomes):
        index = next((i for i, pattern in enumerate(chapter.patterns) if matches(pattern, outcome.name)), None)
        (rest if index is None else groups[index][2]).append(outcome)
    groups.append(("the tests no pattern matches", chapter.points - sum(chapter.patterns.values()), rest))

    for label, points, members in groups:
        grade.tests += [GradedTest(outcome, points / len(members)) for outcome in members]
        # A run without results has its problem for a note: that no test
        # is there to earn a pattern's points adds nothing to it.
        if not members and points > 0 and outcomes:
            grade.notes.append(f"{points:g} points for {label}: there are none")
    grade.tests += [GradedTest(Outcome(outcome.name, outcome.passed, outcome.message or NOT_IN_REFERENCE), 0.0)
                    for outcome in extra]
    return grade


# --- the report -----------------------------------------------------------------

def points_column(earned: float, possible: float) -> str:
    return f"{earned:7.2f} / {possible:6.2f}"


def wrap_message(message: str) -> list[str]:
    """A failed test's reason in at most MESSAGE_LINES lines of
    MESSAGE_WIDTH, broken between words only (a path or a long name stays
    whole, on a line of its own)."""
    return textwrap.wrap(message, MESSAGE_WIDTH, max_lines=MESSAGE_LINES, placeholder=" [...]",
                         break_long_words=False, break_on_hyphens=False)


def print_table(grades: list[ChapterGrade], repository: Path) -> None:
    print(f"Grades of {repository}\n")
    for grade in grades:
        width = max([len(test.outcome.name) + 8 for test in grade.tests] + [40])
        print(f"{grade.chapter.name:<{width}}{points_column(grade.earned, grade.possible)}")
        for note in grade.notes:
            print(f"  ! {note}")
        for test in grade.tests:
            mark = "pass" if test.outcome.passed else "FAIL"
            print(f"  {mark}  {test.outcome.name:<{width - 8}}{points_column(test.earned, test.possible)}")
            for line in wrap_message(test.outcome.message):
                print(f"        {line}")
        print()
    width = max(len(grade.chapter.name) for grade in grades) + 4
    print(f"{'chapter':<{width}}{'points':>16}")
    for grade in grades:
        # A run cut short is said beside its points too, not only above.
        problem = f"  ! {grade.problem.split(':')[0]}" if grade.problem else ""
        print(f"{grade.chapter.name:<{width}}{points_column(grade.earned, grade.possible)}{problem}")
    total_earned = sum(grade.earned for grade in grades)
    total_possible = sum(grade.possible for grade in grades)
    print(f"{'total':<{width}}{points_column(total_earned, total_possible)}")


def as_json(grades: list[ChapterGrade], repository: Path, points_file: Path) -> dict:
    return {
        "repository": str(repository),
        "points_file": str(points_file),
        "earned": sum(grade.earned for grade in grades),
        "possible": sum(grade.possible for grade in grades),
        "chapters": [{
            "chapter": grade.chapter.name,
            "earned": grade.earned,
            "possible": grade.possible,
            "problem": grade.problem,
            "notes": grade.notes,
            "tests": [{
                "name": test.outcome.name,
                "passed": test.outcome.passed,
                "earned": test.earned,
                "possible": test.possible,
                "message": test.outcome.message,
            } for test in grade.tests],
        } for grade in grades],
    }


# --- the whole grading ----------------------------------------------------------

@dataclass(frozen=True)
class GradedCopy:
    """What copying a checkout left out or replaced, for the table's notes."""
    outside_links: list[Path]  # symbolic links out of the checkout, left out; relative to it
    host_files_replaced: list[str]  # the files of common/host/ the checkout had otherwise


def copy_checkout(repository: Path, destination: Path) -> GradedCopy:
    """The student's tree without its build output and history, with this
    repository's harness, in-kernel tests and machine in place of its own.
    A symbolic link that leads out of the checkout is left out: a chapter,
    or a file of one, linked to the instructors' own would be graded as the
    student's work."""
    repository = repository.resolve()
    outside: list[Path] = []

    def leave_out(directory: str, names: list[str]) -> set[str]:
        left = {"build", ".git"} & set(names) if Path(directory).resolve() == repository else set()
        for name in names:
            link = Path(directory, name)
            if link.is_symlink() and not link.resolve().is_relative_to(repository):
                outside.append(link.relative_to(repository))
                left.add(name)
        return left

    shutil.copytree(repository, destination, symlinks=True, ignore=leave_out)
    put_ours_in_place(HARNESS, destination / "harness", shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    use_instructors_kernel_tests(destination)
    return GradedCopy(outside, use_instructors_machine(destination))


# The machine every boot gets and the tools the harness requires, which
# host.py reads.
HOST = Path("common/host")


def use_instructors_machine(checkout: Path) -> list[str]:
    """Puts this repository's common/host/ in place of the checkout's, and
    returns the names of the files there that the checkout had otherwise:
    changed, missing, or its own."""
    ours, theirs = REPOSITORY / HOST, checkout / HOST
    names = sorted(set(files_below(ours)) | set(files_below(theirs)))
    differing = [name for name in names if not same_file(ours / name, theirs / name)]
    put_ours_in_place(ours, theirs)
    return differing


def put_ours_in_place(ours: Path, theirs: Path, ignore=None) -> None:
    """Copies a directory of this repository to where the checkout's copy
    has `theirs`, whatever is there: a directory, a file, a link (which
    goes, not what it leads to) or nothing; under a parent that may be a
    file (a common/ that is one: its build fails, and grading goes on)."""
    if theirs.is_symlink() or theirs.is_file():
        theirs.unlink()
    else:
        shutil.rmtree(theirs, ignore_errors=True)
    if not theirs.parent.is_dir():
        theirs.parent.unlink(missing_ok=True)
    shutil.copytree(ours, theirs, ignore=ignore)


def files_below(directory: Path) -> list[str]:
    """The files below a directory (or where a link to one leads), by their
    path in it."""
    if not directory.is_dir():
        return []
    return [str(path.relative_to(directory)) for path in directory.rglob("*") if not path.is_dir()]


def same_file(ours: Path, theirs: Path) -> bool:
    """Whether the checkout has the file's bytes as this repository has
    them, by a link or not (a link is the same machine)."""
    return ours.is_file() and theirs.is_file() and filecmp.cmp(ours, theirs, shallow=False)


def use_instructors_kernel_tests(checkout: Path) -> None:
    """Puts this repository's files of in-kernel tests (chapters/NN/tests/)
    in place of the checkout's, in each chapter the checkout has: like the
    harness, they are the instructors' tests, and a test whose body a
    student emptied would pass whatever the kernel does. A file only the
    checkout has (a test a student added) stays; its tests earn nothing.
    The test runner around them stays the student's: chapter 4 teaches it."""
    for tests in REPOSITORY.glob("chapters/*/tests"):
        chapter = checkout / tests.parent.relative_to(REPOSITORY)
        if not chapter.is_dir():
            continue
        for source in [tests, *sorted(tests.rglob("*"))]:
            target = chapter / "tests" / source.relative_to(tests)
            # Whatever stands in the way goes: a link would lead the copy
            # into another of the checkout's files.
            if target.is_symlink() or target.is_file() and source.is_dir():
                target.unlink()
            elif target.is_dir() and source.is_file():
                shutil.rmtree(target)
            if source.is_dir():
                target.mkdir(exist_ok=True)
            else:
                shutil.copyfile(source, target)


def machine_notes(copy: GradedCopy) -> list[str]:
    """A note for every chapter when the checkout's machine was not the
    instructors': each was graded on a machine other than its student's."""
    if not copy.host_files_replaced:
        return []
    return [f"graded on the instructors' {HOST}/ (the machine every boot gets, the tools the harness requires), "
            f"not the checkout's, which differs in {', '.join(copy.host_files_replaced)}"]


def links_left_out(chapter: ChapterPoints, links: list[Path], repository: Path) -> list[str]:
    """Notes on the links that copy_checkout left out and this chapter may
    need: those in its own directory, and any outside a chapter's."""
    def concerns_the_chapter(link: Path) -> bool:
        in_a_chapter = link.parts[0] == "chapters" and len(link.parts) > 1
        return not in_a_chapter or link.parts[1][:2] == chapter.number

    return [f"left out of the graded copy, a symbolic link out of the checkout: {link} -> "
            f"{os.readlink(repository / link)}" for link in links if concerns_the_chapter(link)]


def modules_of(chapter: ChapterPoints) -> list[Path]:
    """The test modules that grade a chapter: those the points file names,
    or else harness/test_NN_*.py."""
    if chapter.modules:
        modules = [HARNESS / name for name in chapter.modules]
        missing = [module.name for module in modules if not module.is_file()]
        if missing:
            raise PointsFileError(f"chapter {chapter.name}: no test module harness/{', harness/'.join(missing)}")
        return modules
    modules = sorted(HARNESS.glob(f"test_{chapter.number}_*.py"))
    if not modules:
        raise PointsFileError(f"chapter {chapter.name}: no test module harness/test_{chapter.number}_*.py; "
                              "name its modules in the points file")
    return modules


def select_chapters(chapters: list[ChapterPoints], wanted: str | None) -> list[ChapterPoints]:
    """--chapters 2,03,04-testing -> those chapters of the points file."""
    if wanted is None:
        return chapters
    numbers = []
    for name in wanted.split(","):
        number = name.strip().split("-", 1)[0]
        numbers.append(f"{int(number):02d}" if number.isdigit() else number)
    unknown = set(numbers) - {chapter.number for chapter in chapters}
    if unknown:
        raise PointsFileError(f"--chapters names chapters the points file does not grade: {sorted(unknown)}")
    return [chapter for chapter in chapters if chapter.number in numbers]


def grade_checkout(repository: Path, chapters: list[ChapterPoints], timeout: float,
                   work: Path) -> list[ChapterGrade]:
    checkout = work / "checkout"
    results = work / "results"
    # The instructors' tests first: if their repository cannot say, no checkout is graded.
    print("collecting the instructors' tests ...", end=" ", file=sys.stderr, flush=True)
    started = time.monotonic()
    references = {chapter.name: reference_tests(chapter, modules_of(chapter)) for chapter in chapters}
    print(f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    copy = copy_checkout(repository, checkout)
    results.mkdir()
    grades = []
    for chapter in chapters:
        print(f"grading {chapter.name} ...", end=" ", file=sys.stderr, flush=True)
        started = time.monotonic()
        run = run_chapter(checkout, chapter.name, modules_of(chapter), results, timeout)
        grades.append(grade_chapter(chapter, run, references[chapter.name]))
        grades[-1].notes[:0] = links_left_out(chapter, copy.outside_links, repository) + machine_notes(copy)
        print(f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return grades


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=REPOSITORY, help="the checkout to grade (default: this one)")
    parser.add_argument("--points", type=Path, default=DEFAULT_POINTS, help=f"default: {DEFAULT_POINTS}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"default: {DEFAULT_JSON}")
    parser.add_argument("--chapters", metavar="NN,NN", help="grade only these chapters of the points file")
    parser.add_argument("--chapter-timeout", type=float, default=DEFAULT_CHAPTER_TIMEOUT, metavar="SECONDS",
                        help=f"limit of each chapter's build and tests (default: {DEFAULT_CHAPTER_TIMEOUT:g})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the graded copy, with each failed test's evidence under its build/")
    arguments = parser.parse_args()

    repository = arguments.repo.resolve()
    if not (repository / "chapters").is_dir():
        parser.error(f"{repository} has no chapters/ directory: not a checkout of this project")
    try:
        chapters = select_chapters(load_points(arguments.points), arguments.chapters)
        for chapter in chapters:
            modules_of(chapter)
    except PointsFileError as error:
        parser.error(str(error))

    work = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        grades = grade_checkout(repository, chapters, arguments.chapter_timeout, work)
    except ReferenceFailure as failure:
        print(f"\n{failure}", file=sys.stderr)
        return 1
    finally:
        if arguments.keep:
            print(f"the graded copy and pytest's output are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print_table(grades, repository)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps(as_json(grades, repository, arguments.points.resolve()), indent=2) + "\n")
    print(f"\nwritten to {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
