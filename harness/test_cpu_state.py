"""Chapters 05 and 06, read back: each chapter's cpu_state test kernel
(tests/cpu_state_tests.cpp) checks what the chapter gave the CPU rather
than its visible effects. The IDT as the CPU finds it (sidt), gate by gate;
int N reaching the handler of vector N; every vector but the breakpoint
panicking by default; every register and flag across each exception that
resumes (int3, and a #UD, #PF and #GP that a test resumes), and every
register a handler writes into the frame; int3 while the output's lock is
held (its one-line report still on serial while only the screen's is,
and on the screen but not on serial while the console's is); the
direction flag clear and the stack aligned as the ABI says inside a
handler, whatever the interrupted code set; the frame of a real double
fault, a page fault whose gate is taken away (in chapter 06 on the double
fault stack, through IST1); the stub of every vector with an error code,
entered with the frame and error code the CPU would push; and in chapter 06
a page unmapped one instruction at a time under the trap flag, its
translation taken into the TLB after each one, that must fault all the same
(invlpg before the entry is cleared would leave a stale translation).
And booted once more with the boot information describing a screen of
pixels, the kernel must leave the VGA text window as it found it.

Each in-kernel test is an item of its own, as in chapter 04, named after
its chapter: `-k 06-double-faults-cpu_state` or `--chapter 06` selects.
(Not named test_NN_*, as it tests two chapters: harness/points.toml names
it among the modules of both.)
"""

from __future__ import annotations

import pytest

import ktap
from exception_reports import parse_reports
from machine import EXIT_SUCCESS
from test_02_minimal_kernel import play_a_loader_of_pixels
from x86_exceptions import BREAKPOINT

# The whole run takes well under a second; a hang (an exception handler
# that waits for a lock forever) should not cost the default ten.
KERNEL = ktap.TestKernel("cpu_state", EXIT_SUCCESS, timeout=3)
# While the screen's lock is held, the breakpoint handler leaves out only
# the screen's report: the serial console is free, and gets its one line.
SCREEN_LOCKED_BREAKPOINT = "cpu_state_breakpoint_while_the_screen_is_locked_returns"
# While the console's lock is held, the report goes to the screen alone: one
# on serial would be written into the middle of what the lock's holder
# prints, which the lock is there to prevent.
SERIAL_LOCKED_BREAKPOINT = "cpu_state_breakpoint_while_the_serial_console_is_locked_returns"
COLLECTIONS = {chapter: ktap.collect(chapter, [KERNEL]) for chapter in ("05-cpu-exceptions", "06-double-faults")}


@pytest.fixture(scope="module")
def kernel_runs(request: pytest.FixtureRequest, shared_boot) -> dict[str, ktap.KernelRuns]:
    return {chapter: ktap.KernelRuns(request, tests, shared_boot) for chapter, tests in COLLECTIONS.items()}


BUILD_FAILURES = [chapter for chapter, tests in COLLECTIONS.items() if tests.build_failure is not None]

if BUILD_FAILURES:
    @pytest.mark.parametrize("chapter", BUILD_FAILURES)
    def test_chapter_builds(chapter: str):
        """Stands in for the tests of a chapter that could not be collected."""
        raise COLLECTIONS[chapter].build_failure


@pytest.mark.parametrize("chapter, kernel, test", [
    pytest.param(chapter, *param.values, id=f"{chapter}-{param.id}", marks=param.marks)
    for chapter, tests in COLLECTIONS.items() for param in tests.params])
def test_in_kernel(kernel_runs: dict[str, ktap.KernelRuns], chapter: str, kernel: ktap.TestKernel,
                   test: ktap.DeclaredTest):
    result = ktap.check_passed(kernel_runs[chapter].run_of(kernel, test), test)
    if test.name == SCREEN_LOCKED_BREAKPOINT:
        check_breakpoint_reported(result)
    elif test.name == SERIAL_LOCKED_BREAKPOINT:
        reports = parse_reports(result.diagnostics)
        assert not reports, ("expected no report on serial while its lock was held, found:\n"
                             + "\n".join(result.diagnostics))


def check_breakpoint_reported(result: ktap.Result) -> None:
    reports = parse_reports(result.diagnostics)
    assert [(report.vector, report.short) for report in reports] == [(BREAKPOINT, True)], (
        "expected the breakpoint's one-line report on serial, and nothing else; the diagnostics:\n"
        + "\n".join(result.diagnostics))
    assert SCREEN_LOCKED_BREAKPOINT in reports[0].symbol, f"expected rip in the test:\n{reports[0]}"


# --- a machine without a text screen --------------------------------------------------

# The window of VGA text memory, 0xb8000 to 0xbffff. Where there is no text
# screen (a UEFI machine's is a framebuffer of pixels), it may be plain
# memory.
VGA_TEXT_WINDOW = range(0xB8000, 0xC0000)


@pytest.mark.parametrize("chapter", list(COLLECTIONS))
def test_exceptions_write_nothing_to_a_screen_described_as_pixels(boot, build, stub, chapter):
    """The cpu_state kernel takes every vector through its stub, and int3
    through the kernel's own breakpoint handler, which reports on the
    screen when there is one. Told that the screen is pixels, no stub or
    handler may write to the VGA text window (an entry stub that marks the
    screen to show that it ran would). QEMU's UEFI machine drops writes
    there, so the test plays that loader under a BIOS, as
    test_04_testing.py's test of a screen described as pixels does: as
    kernel_main begins, the framebuffer tag is made to describe pixels, and
    the window must read the same at the end."""
    machine = boot(build.chapter(chapter).iso(KERNEL.name), qemu_args=stub.qemu_arguments(), exit_device=False,
                   timeout=10)
    play_a_loader_of_pixels(machine, stub)
    before = machine.read_memory(VGA_TEXT_WINDOW.start, len(VGA_TEXT_WINDOW))
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    report = ktap.parse(machine.serial_text)
    failed = [result.name for result in report.results if not result.ok]
    assert report.complete and not failed, (
        f"{KERNEL.name} must pass under the play, failed: {failed}\n{machine.serial_text}")
    after = machine.read_memory(VGA_TEXT_WINDOW.start, len(VGA_TEXT_WINDOW))
    changed = [VGA_TEXT_WINDOW.start + at for at, (old, new) in enumerate(zip(before, after)) if old != new]
    assert not changed, (
        f"the boot information describes pixels, not a text screen, yet {len(changed)} bytes of the VGA text "
        f"window changed, the first at {changed[0]:#x}: an entry stub or handler wrote there without asking "
        f"whether there is a text screen\n{machine.screen().render()}")
