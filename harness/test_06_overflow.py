"""Chapter 06: stack overflows that the plain one of test_06_double_faults.py
does not show, in the stack_overflow test kernel. Each ends in the double
fault handler's report, or the test fails.

large_frames_overflow_into_the_guard_page_and_panic
    (tests/large_frame_overflow.cpp) recurses with a 25,000-byte local in
    each frame, more than the stack and its two guard pages together.
    Without stack clash protection (common/toolchain.mk) each frame is made
    with one subtraction from RSP, and the first one's lowest byte, which it
    writes first, lies below the guard pages: it writes to what lies there,
    and so does every deeper call: no report of an overflow into the guard
    pages, but a fault somewhere else, a storm of faults or a hang. With it,
    the frame's pages are touched from the top down, the first touch below
    the stack faults in the guard pages, and the report is that of an
    ordinary overflow.

double_fault_in_the_double_fault_report_finishes_the_report
    (tests/nested_double_fault.cpp) leaves the double fault handler a few
    hundred bytes of stack: its report overflows the double fault stack, and
    the CPU raises a second double fault at the top of that stack. Its
    handler must end the panic with the cause, although the first report's
    panic is under way: on serial, and on the screen, which is read with the
    CPU stopped on its way out of QEMU.
"""

from __future__ import annotations

import re

import pytest

import ktap
from chapters import chapter_build
from elf import ElfFile
from machine import EXIT_SUCCESS, Machine
from test_06_double_faults import run_to_or_diagnose

CHAPTER = "06-double-faults"
KERNEL = ktap.TestKernel("stack_overflow", EXIT_SUCCESS, timeout=5)
TESTS = ktap.collect(CHAPTER, [KERNEL])
PAGE_SIZE = 4096
PANIC_COLOUR = 0x4F  # white on red
COLUMNS = 80  # of the text screen

LARGE_FRAMES = "large_frames_overflow_into_the_guard_page_and_panic"
NESTED = "double_fault_in_the_double_fault_report_finishes_the_report"


if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


def test_kernel_declares_the_checked_tests():
    """A test added to the kernel without a check here would go unchecked."""
    assert sorted(test.name for test in TESTS.declared.get(KERNEL.name, [])) == sorted([LARGE_FRAMES, NESTED])


def report_value(diagnostics: list[str], name: str) -> int:
    """A `name=0x...` field of the double fault's report."""
    found = [re.search(rf"\b{name}=(0x[0-9a-f]+)", line) for line in diagnostics]
    values = [int(match[1], 16) for match in found if match]
    assert len(values) == 1, f"the report must show {name}= once:\n" + "\n".join(diagnostics)
    return values[0]


def check_large_frames(diagnostics: list[str], symbols: ElfFile, report: str):
    assert any(re.fullmatch(r"KERNEL PANIC at double_fault\.cpp:\d+: double fault", line) for line in diagnostics), (
        f"{LARGE_FRAMES} must end in the double fault handler's panic, but printed:\n{report}")
    guard_page = range(symbols.symbol("stack_guard").value, symbols.symbol("stack_bottom").value)
    cr2 = report_value(diagnostics, "cr2")
    assert cr2 in guard_page, (
        f"the fault that led to the double fault must be in the guard page "
        f"{guard_page.start:#x}-{guard_page.stop:#x}, not at cr2={cr2:#x}:\n{report}")
    rip = report_value(diagnostics, "rip")
    function = symbols.function_at(rip) or "no function"
    assert function.startswith("overflow_in_large_frames+"), (
        f"the fault must be in overflow_in_large_frames, not at rip={rip:#x} ({function}):\n{report}")
    assert diagnostics[-1] == f"  The kernel stack overflowed into its guard page, below {guard_page.stop:#018x}.", (
        f"the report must end saying that the kernel stack overflowed:\n{report}")


def check_nested(diagnostics: list[str], symbols: ElfFile, report: str):
    heading = r"KERNEL PANIC at double_fault\.cpp:\d+: double fault while reporting a double fault"
    assert re.fullmatch(heading, diagnostics[-2]), (
        f"{NESTED} must end in the second double fault's heading and cause, but printed:\n{report}")
    double_fault_stack = symbols.object_named_like("double_fault_stack_memory").value + PAGE_SIZE
    assert diagnostics[-1] == (
        f"  The double fault stack overflowed into its guard page, below {double_fault_stack:#018x}."), (
        f"the report must end saying that the double fault stack overflowed:\n{report}")


@pytest.mark.parametrize("kernel, test", TESTS.params)
def test_overflow_ends_in_the_double_fault_report(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                                                  test: ktap.DeclaredTest):
    result = ktap.check_passed(kernel_runs.run_of(kernel, test), test)
    report = "\n".join("  # " + line for line in result.diagnostics)
    symbols = ElfFile(chapter_build(CHAPTER) / f"{kernel.name}.elf")
    check = {LARGE_FRAMES: check_large_frames, NESTED: check_nested}[test.name]
    check(result.diagnostics, symbols, report)


def test_nested_report_ends_on_the_screen_too(boot, build, stub):
    """The second double fault ends the broken report on both outputs, as
    every panic is shown: serial is for a log or a harness, the screen for
    the person at the machine. The test kernel exits once the panic is
    finished, and the screen goes with QEMU, so the CPU is stopped in
    qemu_exit and the screen read there. The heading and the cause must
    each start a row, in the panic's colours; the cause is longer than a
    row, and wraps."""
    machine = boot(build.chapter(CHAPTER).iso(KERNEL.name), command_line=f"tests={NESTED}",
                   qemu_args=stub.qemu_arguments(), timeout=10)
    run_to_or_diagnose(machine, stub, "qemu_exit", Machine.expect_exit_success)
    screen = machine.screen()
    stub.detach()
    # The rows one after the other, as the writer filled them: a line
    # longer than a row goes on at the start of the next.
    cells = [screen.cell(row, column) for row in range(len(screen.lines())) for column in range(COLUMNS)]
    text = "".join(cell.character for cell in cells)
    heading = re.search(r"KERNEL PANIC at double_fault\.cpp:\d+: double fault while reporting a double fault", text)
    double_fault_stack = machine.elf.object_named_like("double_fault_stack_memory").value + PAGE_SIZE
    cause = f"  The double fault stack overflowed into its guard page, below {double_fault_stack:#018x}."
    at = text.find(cause)
    assert heading is not None and at >= 0, (
        "the second double fault's heading and cause must be on the screen as on serial: "
        "finish_interrupted_report ends the panic on both outputs\n" + screen.render())
    assert heading.start() % COLUMNS == 0 and at % COLUMNS == 0 and heading.end() <= at, (
        "the heading and then the cause must each begin a row of the screen\n" + screen.render())
    wrong_colour = [i for i in [*range(heading.start(), heading.end()), *range(at, at + len(cause))]
                    if cells[i].attribute != PANIC_COLOUR]
    assert not wrong_colour, (
        f"the end of the report must be in the panic's colours, white on red ({PANIC_COLOUR:#04x}); "
        f"row {wrong_colour[0] // COLUMNS} column {wrong_colour[0] % COLUMNS} has "
        f"{cells[wrong_colour[0]].attribute:#04x}\n" + screen.render())
