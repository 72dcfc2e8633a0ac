"""Both compilers: every chapter also builds with the compiler the rest of
the suite does not use, and its kernels end as they do with the other.

The suite builds with whatever make chose (clang++ unless `make test
CXX=g++`); this module builds each chapter once more with the other
compiler, into build/other-compiler/<compiler>/ (with --ubsan, with
UBSAN=1 into build/ubsan/other-compiler/<compiler>/), and checks that

- the build is free of warnings (it uses -Werror, but a linker or
  assembler warning does not stop it),
- the kernels really came from that compiler (the DWARF producer string
  the compiler leaves in the ELF names it),
- its linker laid them out as common/linker.ld promises (kernel_layout.py):
  GNU ld and ld.lld make different files of the same script,
- no function keeps data below RSP, where an interrupt would write over it
  (red_zone.py); test_no_kernel_keeps_data_below_rsp checks the same of the
  kernels the rest of the suite boots,
- the normal kernel ends halted in halt_forever, as every chapter's
  demo does, and from chapter 4 on, the test kernel of the step exits
  with success after reporting every test ok in KTAP.

Only the verdict is compared, not the screen: a fault report shows
addresses and function offsets, which differ from compiler to compiler.
One item per chapter; the builds of different chapters go to different
directories, so pytest-xdist may run them side by side.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import ktap
from build import make_within_limits
from chapters import CHAPTERS, all_chapters, artifacts, build_root, make_variables
from compilers import check_tools, compiler_that_built, other_compiler
from elf import ElfFile
from kernel_layout import layout_problems
from red_zone import uses_below_rsp
from terminal import make_environment


# From chapter 4 on, the test kernel that exercises what the step adds.
STEP_TEST_KERNELS = {
    "04-testing": "unit_tests",
    "05-cpu-exceptions": "exception_tests",
    "06-double-faults": "double_fault_tests",
}


def red_zone_problems(directory: str, compiler: str, path: Path, kernels: list[str]) -> str:
    """What a chapter's kernels keep below RSP, one line per function, or
    "" when nothing."""
    functions: dict[str, tuple[str, list[str]]] = {}
    for name in kernels:
        for function, instruction in uses_below_rsp(path / f"{name}.elf").items():
            functions.setdefault(function, (instruction, []))[1].append(f"{name}.elf")
    if not functions:
        return ""
    return (f"{directory} built with {compiler} keeps data below RSP, in the red zone, where an interrupt or "
            "exception pushes its frame over it: is -mno-red-zone missing from common/toolchain.mk?\n"
            + "\n".join(f"  {function} ({', '.join(elfs[:2])}{', ...' if len(elfs) > 2 else ''}): {instruction}"
                        for function, (instruction, elfs) in functions.items()))


def other_build_root(compiler: str) -> Path:
    """One directory per compiler, beside the session's chapters, so that
    switching between `make test` and `make test CXX=g++` rebuilds nothing
    here."""
    return build_root() / "other-compiler" / compiler


def make(directory: str, compiler: str, *arguments: str) -> str:
    """Runs make for a chapter with the given compiler into
    other_build_root(compiler); returns its output, or raises BUILD_FAILED."""
    root = other_build_root(compiler)
    # As many jobs as CPUs, as the harness's own builds (build.py).
    command = ["make", "--no-print-directory", f"--jobs={os.cpu_count() or 1}", "-C", str(CHAPTERS / directory),
               f"CXX={compiler}", f"BUILD_ROOT={root}", *make_variables(), *arguments]
    # Everything this build is, is on its command line, not in what a make
    # above the harness (make test CXX=...) hands down. Within the limits of
    # every build the harness makes (build.py).
    return make_within_limits(command, f"{directory} built with {compiler}",
                              artifacts() / f"build-{directory}-{compiler}.log", env=make_environment())


@pytest.mark.slow
@pytest.mark.parametrize("directory", all_chapters())
def test_chapter_builds_and_boots_with_the_other_compiler(build, boot, directory: str):
    chapter = build.chapter(directory)
    compiler = other_compiler(compiler_that_built(chapter.elf()))
    check_tools(compiler)
    path = other_build_root(compiler) / directory
    booted = ["kernel"] + ([STEP_TEST_KERNELS[directory]] if directory in STEP_TEST_KERNELS else [])
    # Every kernel is linked, so that every source is compiled; only the
    # ones booted here need an ISO.
    kernels = chapter.kernels()
    output = make(directory, compiler, *[str(path / f"{name}.elf") for name in kernels],
                  *[str(path / f"{name}.iso") for name in booted])

    warnings = [line for line in output.splitlines() if "warning:" in line]
    if warnings:
        # make would find the warned-about files up to date next time and
        # print nothing: only a build from scratch shows the warnings again.
        shutil.rmtree(path)
    assert not warnings, f"{directory} builds with {compiler}, but with warnings:\n" + "\n".join(warnings)
    for name in kernels:
        assert compiler_that_built(path / f"{name}.elf") == compiler, f"{name}.elf was not built by {compiler}"
    layout = [f"{name}.elf: {problem}" for name in kernels
              for problem in layout_problems(ElfFile(path / f"{name}.elf"))]
    assert not layout, f"{directory} built with {compiler} is not laid out as the linker script promises:\n" + \
        "\n".join(layout)
    red_zone = red_zone_problems(directory, compiler, path, kernels)
    assert not red_zone, red_zone

    demo = boot(path / "kernel.iso", name=f"kernel-{compiler}")
    demo.wait_until_halted_in("halt_forever")
    for name in booted[1:]:
        machine = boot(path / f"{name}.iso", name=f"{name}-{compiler}")
        machine.expect_exit_success()
        report = ktap.parse(machine.serial_text)
        assert not report.problems(), f"{name}: {'; '.join(report.problems())}"
        failed = [result.name for result in report.results if not result.ok]
        assert not failed, f"{name} built with {compiler} fails {failed}"


@pytest.mark.parametrize("directory", all_chapters())
def test_no_kernel_keeps_data_below_rsp(build, directory: str):
    chapter = build.chapter(directory)
    red_zone = red_zone_problems(directory, compiler_that_built(chapter.elf()), chapter.path, chapter.kernels())
    assert not red_zone, red_zone
