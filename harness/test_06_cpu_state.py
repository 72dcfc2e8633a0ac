"""Chapter 06, read back: the cpu_state kernel of chapter 05
(harness/test_05_cpu_state.py), where the double fault's gate switches to
IST1 and its handler runs on the double fault stack, and the rest of the
IDT, the registers across each exception that resumes, and int3 under the
output's lock must be as they were.
"""

from __future__ import annotations

import pytest

import ktap
from machine import EXIT_SUCCESS

TESTS = ktap.collect("06-double-faults", [ktap.TestKernel("cpu_state", EXIT_SUCCESS, timeout=3)])


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
