"""pytest's view of the harness: the options, the fixtures every chapter's
tests use, and what happens to a failed boot's evidence.

Fixtures:
    build   (session) builds a chapter on first use: build.chapter("02")
            returns a ChapterBuild with .elf() and .iso() paths.
    boot    (function) boots a kernel: boot(image, **Machine options)
            returns a running Machine; every machine is stopped when the
            test ends, and when the test failed its serial log, QEMU log,
            screenshot and screen are kept under build/test-artifacts/.
    shared_boot (module) the same, for a boot that several tests of a
            module examine: the machine lives until the module's last
            test, and each test that fails keeps its evidence.
    halted_kernels (session), halted_kernel (function): a chapter's
            kernel booted to its final halt once for every module that
            reads it (halted.py).
    kernel_runs (module) ktap.KernelRuns of the module's TESTS: each test
            kernel booted once, its in-kernel tests read from its report.
    stub    (function) a gdb_stub.GdbStub listening for the QEMU of a
            boot given stub.qemu_arguments().

With --ubsan, the chapters are built with the undefined behaviour
sanitizer (make UBSAN=1, into build/ubsan/) and only the tests of the
chapters it can report in (03 on) run, with those marked ubsan, which
need that build.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# The harness's modules import each other by plain name; so do the tools in tools/.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_timings  # noqa: E402
import scratch  # noqa: E402
from build import Builder  # noqa: E402
from chapters import BUILD, REPOSITORY, all_chapters, artifacts, build_with_ubsan, chapter_number, select_chapters, \
    ubsan_chapters  # noqa: E402
from gdb_stub import GdbStub  # noqa: E402
from halted import Halted, HaltedKernels  # noqa: E402
from ktap import KernelRuns  # noqa: E402
from machine import Machine  # noqa: E402
from verdict import KernelFailure, Verdict  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chapter", action="append", default=[], metavar="NN",
                     help="run only this chapter's tests (2, 02 or 02-minimal-kernel); may be repeated")
    parser.addoption("--uefi-all", action="store_true",
                     help="boot every test kernel under UEFI, not only one per chapter (make test-uefi)")
    parser.addoption("--ubsan", action="store_true",
                     help="build the chapters with the undefined behaviour sanitizer (make UBSAN=1) "
                          "and run the tests of those it can report in")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many workers `-n auto` (pytest.ini) starts: one a CPU for a
    chapter's tests, boots that keep a CPU busy each; one more for a run of
    everything, many of whose items also wait (the terminal sessions, the
    builds stopped at their wall time, the gradings' and the book's walks'
    pytest runs of their own). Measured on 2 CPUs, in fresh clones: make
    test took 5:00 with 2 workers, 4:31 with 3 and 4:39 with 4; --chapter
    03 took 9.3 s with 2 and 9.7 s with 3. PYTEST_XDIST_AUTO_NUM_WORKERS,
    when set, decides as xdist has it."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or config.getoption("--chapter"):
        return None  # xdist's own count: one a CPU
    # The CPUs this process may use (a container's share), where the
    # system tells them (not macOS).
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus + 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chapter(number): the test belongs to this chapter (for --chapter), "
                                       "where its module's name does not say so")
    config.addinivalue_line("markers", "book: a test of the book, which no --chapter selects")
    config.addinivalue_line("markers", "commands: a test of make run or make gdb typed in a terminal, "
                                       "which no --chapter selects")
    config.addinivalue_line("markers", "slow: the item takes seconds, not a fraction of one (a UEFI boot, "
                                       "the book in a browser): it starts first")
    config.addinivalue_line("markers", "uefi_all: a UEFI boot that only --uefi-all runs (test_uefi.py)")
    config.addinivalue_line("markers", "ubsan_changes_nothing: the test checks what the UBSan build does not "
                                       "change (an image and how it boots); --ubsan leaves it out")
    config.addinivalue_line("markers", "ubsan: the test needs the chapters built with UBSAN=1; "
                                       "it runs only with --ubsan")
    if config.getoption("--ubsan"):
        build_with_ubsan()
    if not hasattr(config, "workerinput"):  # the controlling process, not an xdist worker
        run_timings.start(BUILD / "run-timings" / str(os.getpid()))
        _item_seconds.clear()
    try:
        if config.getoption("--chapter"):
            select_chapters(config.getoption("--chapter"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from error


def _chapters_of(item: pytest.Item) -> set[str]:
    """A test belongs to the chapters its chapter marks name and the chapter
    directories its parameters name (test_uefi.py::test_x[02-minimal-kernel]);
    a test that names none belongs to the chapter its module is named after
    (test_02_minimal_kernel.py). So test_04_serial.py's run of chapter 06's
    kernel is chapter 06's, not chapter 04's too.

    Two kinds of tests belong to no chapter, although they use one: the
    book's, which check the book against the repository (the walk of its
    steps takes longer than the rest of a chapter's tests together), and
    those of make run and make gdb in a terminal, which check the project's
    scripts with a chapter's kernel that the chapter's own tests boot
    already. Neither changes with a student's kernel; a student's loop
    would wait for them every time."""
    if item.get_closest_marker("book") is not None or item.get_closest_marker("commands") is not None:
        return set()
    chapters = {chapter_number(m.args[0]) for m in item.iter_markers("chapter")}
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        # The project's chapters: an item of one that a workspace does not
        # hold yet is that chapter's all the same (and deselected there).
        chapters |= {directory[:2] for directory in all_chapters(REPOSITORY / "chapters")
                     if directory in callspec.id}
    if not chapters and (match := re.match(r"test_(\d\d)_", item.module.__name__ if item.module else "")):
        chapters.add(match[1])
    return chapters


# The modules none of whose tests belongs to a chapter: the book's, those
# of the project's scripts and the harness's own checks. A --chapter run
# does not even collect them: in a fresh clone, each worker would first
# spend most of a second compiling them, for tests it then deselects. A run
# without --chapter checks the list (_check_chapter_free_modules).
CHAPTER_FREE_MODULES = frozenset({
    "test_book.py", "test_book_figures.py", "test_book_html.py", "test_build_along.py",
    "test_branches.py", "test_build_limits.py", "test_check_deps.py", "test_ci.py", "test_grade.py",
    "test_make_diff.py", "test_make_gdb.py", "test_make_output.py", "test_make_run.py",
    "test_checkers.py", "test_harness_selfcheck.py",
})


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--chapter") and collection_path.name in CHAPTER_FREE_MODULES:
        return True
    return None  # pytest's own rules decide


# What fails a test that CHAPTER_FREE_MODULES wrongly leaves out of --chapter.
_MISPLACED = pytest.StashKey[str]()


def _check_chapter_free_modules(items: list[pytest.Item]) -> None:
    """A test of a chapter in a module that CHAPTER_FREE_MODULES names would
    never run in that chapter's --chapter run: in a run without --chapter,
    such a test fails, saying so."""
    for item in items:
        if item.path.name in CHAPTER_FREE_MODULES and (chapters := _chapters_of(item)):
            item.stash[_MISPLACED] = (
                f"this test belongs to chapter {', '.join(sorted(chapters))}, and conftest.py's "
                f"CHAPTER_FREE_MODULES names its module: --chapter would never run it")


def _wanted(config: pytest.Config, item: pytest.Item, numbers: set[str] | None) -> bool:
    """Whether --chapter (numbers, if given), --uefi-all and --ubsan select
    the item."""
    chapters = _chapters_of(item)
    if numbers is not None and not chapters & numbers:
        return False
    if chapters and not chapters & {chapter[:2] for chapter in all_chapters()}:
        return False  # a chapter that a student's workspace does not hold yet
    if item.get_closest_marker("uefi_all") is not None and not config.getoption("--uefi-all"):
        return False
    if config.getoption("--ubsan"):
        return bool(chapters & {chapter[:2] for chapter in ubsan_chapters()}) \
            and item.get_closest_marker("ubsan_changes_nothing") is None
    return item.get_closest_marker("ubsan") is None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects (never skips) what the options leave out: other chapters'
    tests, and the slow UEFI boots without --uefi-all; puts the slow
    items first."""
    wanted = config.getoption("--chapter")
    try:
        numbers = {chapter_number(name) for name in wanted} if wanted else None
    except ValueError as error:
        raise pytest.UsageError(str(error)) from error
    if numbers is None:
        _check_chapter_free_modules(items)
    selected, deselected = [], []
    for item in items:
        (selected if _wanted(config, item, numbers) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    # The slow items first, in their order: the workers of a parallel run
    # take items in this order, and one that took a 4 s UEFI boot last
    # would keep the others waiting for it at the end.
    items[:] = sorted(selected, key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A module whose chapter did not build (its TESTS say so) has one
    verdict, the failure of test_chapter_builds with make's output; each
    other item of it is skipped naming that failure, as the items of a boot
    that failed before its test runner are (ktap.py), before a fixture or a
    check looks for a kernel that is not there and fails in words of its
    own. And a test of a chapter that CHAPTER_FREE_MODULES leaves out of
    the chapter's --chapter run fails."""
    if _MISPLACED in item.stash:
        pytest.fail(item.stash[_MISPLACED], pytrace=False)
    failure = getattr(getattr(item.module, "TESTS", None), "build_failure", None)
    if failure is not None and getattr(item, "originalname", None) != "test_chapter_builds":
        pytest.skip(f"not run: {failure.summary.splitlines()[0]} (test_chapter_builds fails with make's output)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --ubsan, a selection of chapters before 03 (make test
    PYTEST_ARGS="--chapter 02" runs both suites) leaves nothing to run,
    which is no failure."""
    if session.config.getoption("--ubsan") and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
    if hasattr(session.config, "workerinput"):
        run_timings.write(session.config.workerinput["workerid"])


# The browser's time is that of the tests that drive it.
BROWSER_MODULE = "test_book_html.py"
SLOWEST_SHOWN = 5
_item_seconds: dict[str, float] = {}  # item -> seconds, in the controlling process


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the controlling process (xdist sends it every report): each
    item's time, its set-up and tear-down included."""
    name = _item_name(report.location)
    _item_seconds[name] = _item_seconds.get(name, 0.0) + report.duration
    if report.nodeid.split("::")[0].endswith(BROWSER_MODULE):
        run_timings.record("browser", report.duration)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _item_seconds:
        return
    terminalreporter.section("where the time went")
    for name, spent in sorted(_item_seconds.items(), key=lambda entry: -entry[1])[:SLOWEST_SHOWN]:
        terminalreporter.write_line(f"{spent:8.2f} s  {name}")
    spent = ", ".join(f"{category} {total:.1f} s" for category, total in run_timings.totals().items())
    terminalreporter.write_line(f"wall time in {spent} (summed over the workers of a parallel run)")


@pytest.fixture(scope="session")
def build() -> Builder:
    return Builder()


def _item_name(location: tuple[str, int | None, str]) -> str:
    """`test_04_testing.py::test_in_kernel[unit_tests-a]`: the node id, as
    a serial run has it; under xdist's loadgroup the node id gains the
    group's name ("@04-testing-unit_tests"), its location does not."""
    return f"{location[0]}::{location[2]}"


def _artifact_directory(item: pytest.Item) -> Path:
    return artifacts() / re.sub(r"[^A-Za-z0-9_.-]+", "-", _item_name(item.location)).strip("-")


class _Boots:
    """The machines one test (or one module) booted, in order, each with
    the name of the function that booted it."""

    def __init__(self) -> None:
        self.machines: list[tuple[Machine, str]] = []

    def __call__(self, image: Path | str, **options) -> Machine:
        __tracebackhide__ = True
        machine = Machine(image, **options)
        self.machines.append((machine, sys._getframe(1).f_code.co_name))
        return machine

    def close(self) -> None:
        for machine, _ in self.machines:
            machine.close()


def _machines_of(item: pytest.Item) -> list[Machine]:
    """The machines a test used: its own, those of the module's shared
    boots that a fixture of this test booted, the halted kernel it read
    (halted.py), and the boots of test kernels whose report it read (a
    ktap.KernelRuns fixture, or a dict of them)."""
    shared = getattr(item.getparent(pytest.Module), "_shared_kernel_boots", _Boots()).machines
    own = getattr(item, "_kernel_boots", _Boots()).machines
    machines = [machine for machine, booted_by in shared if booted_by in item.fixturenames] + \
        [machine for machine, _ in own] + getattr(item, "halted_machines", [])
    for value in getattr(item, "funcargs", {}).values():
        for runs in value.values() if isinstance(value, dict) else [value]:
            if isinstance(runs, KernelRuns):
                machines += [machine for machine in runs.machines_of(item) if machine not in machines]
    return machines


@pytest.fixture
def boot(request: pytest.FixtureRequest):
    """boot(image, elf=None, qemu_args=(), command_line=None, timeout=10, name=None, firmware="bios",
    attach="cdrom", serial_buffer=None, exit_device=True, uart=True) -> Machine"""
    boots = _Boots()
    request.node._kernel_boots = boots
    yield boots
    boots.close()


@pytest.fixture(scope="module")
def shared_boot(request: pytest.FixtureRequest):
    """Like boot, for a module-scoped fixture of the test module:
    the machines stay up until the module's tests are done."""
    boots = _Boots()
    request.node._shared_kernel_boots = boots
    yield boots
    boots.close()


@pytest.fixture(scope="session")
def halted_kernels(build: Builder) -> HaltedKernels:
    """Each chapter's kernel halted at its end, booted once (halted.py)."""
    boots = _Boots()
    yield HaltedKernels(build, boots)
    boots.close()


@pytest.fixture
def halted_kernel(request: pytest.FixtureRequest, halted_kernels: HaltedKernels) -> Halted:
    """The halted kernel of the module's CHAPTER."""
    return halted_kernels(request.module.CHAPTER, request.node)


@pytest.fixture
def stub(request: pytest.FixtureRequest):
    # A unix socket path may be at most 107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="gdb-", dir=scratch.directory()) as directory:
        stub = GdbStub(Path(directory) / "gdb.sock", explain=lambda: _what_became_of(request.node, stub))
        yield stub
        stub.close()


def _what_became_of(item: pytest.Item, stub: GdbStub) -> str | None:
    """The verdict on the kernel whose CPU the test's stub lost: the one
    booted with that stub (its QEMU command names the stub's address)."""
    machine = next((machine for machine, _ in getattr(item, "_kernel_boots", _Boots()).machines
                    if stub.address in machine.command), None)
    if machine is None:
        return None
    failure = machine.lost_by_the_debugger()
    return f"{failure.verdict.name}: {failure.summary}"


@pytest.fixture(scope="module")
def kernel_runs(request: pytest.FixtureRequest, shared_boot) -> KernelRuns:
    """The boots of the module's test kernels: ktap.KernelRuns of the
    ktap.Collection the module names TESTS."""
    return KernelRuns(request, request.module.TESTS, shared_boot)


@pytest.fixture(autouse=True)
def _clear_old_artifacts(request: pytest.FixtureRequest) -> None:
    """A test's evidence is of its latest run only."""
    shutil.rmtree(_artifact_directory(request.node), ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """When a test that booted kernels fails, keeps each boot's evidence
    while QEMU still runs, and records every boot's verdict (shown in the
    JUnit XML as properties)."""
    outcome = yield
    report = outcome.get_result()
    # A boot in a module-scoped fixture fails in a test's set-up.
    if report.when == "teardown" or report.when == "setup" and not report.failed:
        return
    failure = call.excinfo.value if call.excinfo is not None else None
    for number, machine in enumerate(_machines_of(item), start=1):
        if machine.failure is not None:
            verdict, summary = machine.failure.verdict, machine.failure.summary
        elif isinstance(failure, KernelFailure):
            verdict, summary = failure.verdict, failure.summary
        elif report.failed:
            verdict, summary = Verdict.FAIL, str(failure).splitlines()[0] if str(failure) else "test failed"
        else:
            verdict, summary = Verdict.PASS, ""
        item.user_properties.append((f"boot {number} {machine.name}", f"{verdict.name} {summary}".strip()))
        if report.failed:
            directory = _artifact_directory(item) / f"boot-{number}-{machine.name}"
            machine.capture_post_mortem()
            machine.save_artifacts(directory, failure_text=f"{verdict.name}: {summary}")
            report.sections.append((f"kernel artifacts (boot {number})", str(directory)))
