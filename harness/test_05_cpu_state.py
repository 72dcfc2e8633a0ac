"""Chapter 05, read back: the cpu_state test kernel checks the IDT as the
CPU finds it (sidt), every gate field by field; that every register and
flag survives each exception that resumes (int3, and a #UD, #PF and #GP
that a test resumes); that int3 returns while the output's lock is held;
and the frame of a real double fault (a page fault with its gate taken
away). Each in-kernel test is an item of its own, as in chapter 04.
"""

from __future__ import annotations

import pytest

import ktap
from machine import EXIT_SUCCESS

TESTS = ktap.collect("05-cpu-exceptions", [ktap.TestKernel("cpu_state", EXIT_SUCCESS, timeout=3)])


@pytest.fixture(scope="module")
def kernel_runs(request: pytest.FixtureRequest, shared_boot) -> ktap.KernelRuns:
    return ktap.KernelRuns(request, TESTS, shared_boot)


if TESTS.build_failure is not None:
    def test_chapter_builds():
        """Stands in for the tests that could not be collected."""
        raise TESTS.build_failure


@pytest.mark.parametrize("kernel, test", TESTS.params)
def test_in_kernel(kernel_runs: ktap.KernelRuns, kernel: ktap.TestKernel, test: ktap.DeclaredTest):
    ktap.check_passed(kernel_runs.run_of(kernel, test), test)
