"""Chapter 06: a stack overflow in frames larger than the guard page.

The stack_overflow test kernel (tests/large_frame_overflow.cpp) recurses
with a 12,000-byte local in each frame. Without stack clash protection
(common/toolchain.mk) each frame is made with one subtraction from RSP, and
the one that crosses the bottom of the stack starts pages below the single
guard page and writes to what lies there (boot.asm's page tables among it):
no report, but a storm of faults or a hang. With it, the frame's pages are
touched from the top down, the first touch below the stack faults in the
guard page, and the double fault handler reports an ordinary overflow.
"""

from __future__ import annotations

import re

import pytest

import ktap
from chapters import chapter_build
from elf import ElfFile
from machine import EXIT_SUCCESS

CHAPTER = "06-double-faults"
KERNEL = ktap.TestKernel("stack_overflow", EXIT_SUCCESS, timeout=5)
TESTS = ktap.collect(CHAPTER, [KERNEL])
OVERFLOWING_FUNCTION = "overflow_in_large_frames"


@pytest.fixture(scope="module")
def kernel_runs(request: pytest.FixtureRequest, shared_boot) -> ktap.KernelRuns:
    return ktap.KernelRuns(request, TESTS, shared_boot)


if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


def report_value(diagnostics: list[str], name: str) -> int:
    """A `name=0x...` field of the double fault's report."""
    found = [re.search(rf"\b{name}=(0x[0-9a-f]+)", line) for line in diagnostics]
    values = [int(match[1], 16) for match in found if match]
    assert len(values) == 1, f"the report must show {name}= once:\n" + "\n".join(diagnostics)
    return values[0]


@pytest.mark.parametrize("kernel, test", TESTS.params)
def test_large_frames_end_in_the_double_fault_report(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel,
                                                      test: ktap.DeclaredTest):
    result = ktap.check_passed(kernel_runs.run_of(kernel, test), test)
    diagnostics = result.diagnostics
    report = "\n".join("  # " + line for line in diagnostics)
    assert any(re.fullmatch(r"KERNEL PANIC at double_fault\.cpp:\d+: double fault", line) for line in diagnostics), (
        f"{test.name} must end in the double fault handler's panic, but printed:\n{report}")
    symbols = ElfFile(chapter_build(CHAPTER) / f"{kernel.name}.elf")
    guard_page = range(symbols.symbol("stack_guard_page").value, symbols.symbol("stack_bottom").value)
    cr2 = report_value(diagnostics, "cr2")
    assert cr2 in guard_page, (
        f"the fault that led to the double fault must be in the guard page "
        f"{guard_page.start:#x}-{guard_page.stop:#x}, not at cr2={cr2:#x}:\n{report}")
    rip = report_value(diagnostics, "rip")
    function = symbols.function_at(rip) or "no function"
    assert function.startswith(OVERFLOWING_FUNCTION + "+"), (
        f"the fault must be in {OVERFLOWING_FUNCTION}, not at rip={rip:#x}:\n{report}")
    overflow_line = f"  The kernel stack overflowed into its guard page, below {guard_page.stop:#018x}."
    assert overflow_line in diagnostics, f"the report must end with {overflow_line.strip()!r}:\n{report}"
