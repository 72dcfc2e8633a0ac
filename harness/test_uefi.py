"""The chapters boot under UEFI as well as under a BIOS: the same GRUB ISO,
started by OVMF instead of SeaBIOS (common/make-iso.sh gives the disc a
boot entry for each).

A UEFI firmware leaves the screen in a graphics mode; there is no VGA text
mode, and the Multiboot2 boot information says so in its framebuffer tag.
The kernels of chapters 02 to 06 say so on serial instead of writing to
0xb8000. The test kernels of chapters 04 to 06 run every test, except that
those declared KERNEL_TEST_ON_SCREEN, which read the screen back, report
themselves skipped with the reason; each of those must be skipped, and
nothing else may be. The report as a whole must hold together too:
skipped results are numbered and counted like the others, and the kernel
exits as one whose tests passed.

Under TCG, OVMF takes some 4 s of CPU time to start each boot, forty times
SeaBIOS's. So `make test` boots one test kernel per chapter under UEFI, and
no chapter's kernel: test_images.py boots those of chapters 02 and 03 from
a disk under UEFI in every run, and checks there what
test_kernel_says_on_serial_that_there_is_no_text_mode checks from a CD.
`make test-uefi` (pytest --uefi-all) boots every test kernel that must
pass, and every chapter's kernel.
"""

from __future__ import annotations

import re

import pytest

import ktap
from build import makefile_values
from machine import EXIT_SUCCESS

NO_TEXT_MODE_REASON = "the screen is a framebuffer of pixels, as UEFI leaves it."

# The test kernels that must pass, by chapter; the first of each chapter is
# the one `make test` boots. The rest need --uefi-all.
KERNELS = {
    "04-testing": ["unit_tests", "basic_boot", "should_panic"],
    "05-cpu-exceptions": ["exception_tests", "unit_tests", "basic_boot", "should_panic",
                          "unhandled_exception", "cpu_state"],
    "06-double-faults": ["double_fault_tests", "unit_tests", "basic_boot", "should_panic",
                         "exception_tests", "unhandled_exception", "unhandled_double_fault",
                         "page_table_pool", "cpu_state", "stack_overflow"],
}
# The chapters' other test kernels, and why UEFI has nothing to check in
# them. Every kernel of a chapter's TEST_KERNELS is in one list or the other.
NOT_BOOTED_UNDER_UEFI = {
    "failing_tests": "fails on purpose, for the harness's reports of failures",
    "hanging_test": "hangs on purpose, for the harness's report of a hang",
    "nested_panic": "halts on purpose, in a panic inside a panic",
    "serial_flood": "floods serial on purpose, for the harness to read under back-pressure",
    "undefined_behaviour": "built with UBSAN=1 only, to break the rules on purpose",
}
COLLECTIONS = {chapter: ktap.collect(chapter, [ktap.TestKernel(name, EXIT_SUCCESS) for name in names])
               for chapter, names in KERNELS.items()}

# What each chapter's kernel says it cannot show.
KERNEL_DEMOS = {
    "02-minimal-kernel": "Hello World!",
    "03-vga-text": "the demo",
    "04-testing": "the demo",
    "05-cpu-exceptions": "the demo",
    "06-double-faults": "the demo",
}

ALL_ONLY = pytest.mark.uefi_all


def _boot_marks(chapter: str, kernel: ktap.TestKernel) -> list:
    """One worker boots each kernel once for all its items, in seconds;
    only the first kernel of a chapter boots without --uefi-all."""
    marks = [pytest.mark.slow, pytest.mark.xdist_group(f"uefi-{chapter}-{kernel.name}")]
    return marks if kernel.name == KERNELS[chapter][0] else [*marks, ALL_ONLY]


def _in_kernel_params() -> list:
    return [pytest.param(chapter, kernel, test, id=f"{chapter}-{kernel.name}-{test.name}",
                         marks=_boot_marks(chapter, kernel))
            for chapter, collection in COLLECTIONS.items() for kernel in collection.kernels
            for test in collection.declared.get(kernel.name, [])]


def _whole_run_params() -> list:
    return [pytest.param(chapter, kernel, id=f"{chapter}-{kernel.name}", marks=_boot_marks(chapter, kernel))
            for chapter, collection in COLLECTIONS.items() for kernel in collection.kernels]


@pytest.fixture(scope="module")
def uefi_runs(request: pytest.FixtureRequest, shared_boot) -> dict[str, ktap.KernelRuns]:
    return {chapter: ktap.KernelRuns(request, collection, shared_boot, firmware="uefi")
            for chapter, collection in COLLECTIONS.items()}


@pytest.mark.parametrize("chapter", KERNELS)
def test_every_test_kernel_that_must_pass_boots_here(chapter: str):
    """A test kernel added to a chapter and to its own test module is
    checked under a BIOS only, until it is added here too."""
    [built] = makefile_values(chapter, "$(TEST_KERNELS)")
    forgotten = sorted(set(built.split()) - set(KERNELS[chapter]) - set(NOT_BOOTED_UNDER_UEFI))
    assert not forgotten, (f"chapters/{chapter}/Makefile builds the test kernels {', '.join(forgotten)}, which "
                           "test_uefi.py neither boots (KERNELS) nor says why not (NOT_BOOTED_UNDER_UEFI)")


BUILD_FAILURES = {chapter: c.build_failure for chapter, c in COLLECTIONS.items() if c.build_failure is not None}
if BUILD_FAILURES:
    @pytest.mark.parametrize("chapter", list(BUILD_FAILURES))
    def test_chapter_builds(chapter: str):
        """Stands in for the tests that could not be collected."""
        raise BUILD_FAILURES[chapter]


@pytest.mark.parametrize("chapter, kernel, test", _in_kernel_params())
def test_in_kernel_under_uefi(uefi_runs, chapter: str, kernel: ktap.TestKernel, test: ktap.DeclaredTest):
    run = uefi_runs[chapter].run_of(kernel, test)
    if run.stopped_before_runner:
        run.raise_failure_once(test.name)
    if test.needs != "vga_text_mode":
        ktap.check_passed(run, test)
        return
    result = run.report.result(test.name)
    assert result is not None, f"no result for {test.name}\n{run.serial_tail()}"
    assert result.skipped, (f"{test.name} reads the screen back, which has no text mode under UEFI; it must be "
                            f"skipped, but reported: {'ok' if result.ok else 'not ok'} {result.directive}")
    assert result.directive == f"SKIP no VGA text mode: {NO_TEXT_MODE_REASON}"


@pytest.mark.parametrize("chapter, kernel", _whole_run_params())
def test_whole_run_under_uefi(uefi_runs, chapter: str, kernel: ktap.TestKernel):
    """The report as a whole, where skipping happens: the skipped results
    numbered and counted like the others, no test both skipped and run,
    and the exit status of a run whose tests all passed or were skipped."""
    screen_tests = frozenset(test.name for test in COLLECTIONS[chapter].declared.get(kernel.name, [])
                             if test.needs == "vga_text_mode")
    for group, run in uefi_runs[chapter].all_runs(kernel):
        ktap.check_whole_run(run, group, skipped=screen_tests)


@ALL_ONLY
@pytest.mark.slow
@pytest.mark.parametrize("chapter", KERNEL_DEMOS)
def test_kernel_says_on_serial_that_there_is_no_text_mode(boot, build, chapter: str):
    machine = boot(build.chapter(chapter).iso(), firmware="uefi")
    what = re.escape(KERNEL_DEMOS[chapter])
    machine.wait_for_serial(rf"No VGA text mode, so {what} is not shown:\s+{re.escape(NO_TEXT_MODE_REASON)}")
    machine.wait_until_halted_in("halt_forever")
