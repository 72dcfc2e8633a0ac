"""Chapter 4: the test kernel's command line, misread in no way.

A test kernel takes only tests=NAME,NAME,...; any other word, a second
tests= or an empty name must end the run as a failure that names the word
at fault, with a plan of no tests: never a run of everything (which would
pass a grader's selection it ignored), never a run of some.
"""

import pytest

import ktap
from machine import EXIT_FAILURE

MISTAKES = [
    ("quiet tests=format_zero", "unknown option: quiet"),
    ("tests=format_zero tests=vga_long_line_wraps", "a second tests=: tests=vga_long_line_wraps"),
    ("tests=", "an empty test name in: tests="),
    ("tests=format_zero,,vga_long_line_wraps", "an empty test name in: tests=format_zero,,vga_long_line_wraps"),
    ("tests=format_zero,", "an empty test name in: tests=format_zero,"),
]


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter("04")


@pytest.mark.parametrize("command_line, complaint", MISTAKES, ids=[line for line, _ in MISTAKES])
def test_mistaken_command_line_fails_the_run_naming_the_word(boot, chapter, command_line, complaint):
    machine = boot(chapter.iso("unit_tests"), command_line=command_line)
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    # A diagnostic of the report: one printed before "KTAP version 1" is
    # not part of it, and a KTAP reader drops it.
    assert f"kernel command line: {complaint}" in report.trailing, \
        f"no diagnostic '# kernel command line: {complaint}' in the KTAP report:\n{machine.serial_text}"
    assert report.plan == 0 and not report.results and not report.problems(), \
        f"tests ran on a mistaken command line: {report.results}; {report.problems()}"
    assert status == EXIT_FAILURE, f"exit status {status}, not {EXIT_FAILURE} (failure)"
