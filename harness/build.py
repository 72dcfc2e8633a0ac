"""Builds what the selected tests need, once per test session, and turns a
missing tool or a failed build into a verdict instead of a skip.

Under pytest-xdist several worker processes may want the same chapter at
once; a lock file per chapter under build/ lets one make run at a time (the
others then find everything up to date).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import host
import run_timings
from chapters import BUILD, CHAPTERS, FIXTURES_BUILD, REPOSITORY, artifacts, chapter_build, chapter_directory, \
    make_variables
from terminal import make_environment
from verdict import KernelFailure, Verdict

OUTPUT_TAIL_LINES = 40
# "error" as a word: a compiler's "error:", not the -Werror of a command.
ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)


@dataclass(frozen=True)
class ChapterBuild:
    """Where a built chapter's kernels are."""
    directory: str  # e.g. "02-minimal-kernel"
    path: Path  # build/02-minimal-kernel (build/ubsan/... with --ubsan)

    @property
    def number(self) -> str:
        return self.directory[:2]

    def elf(self, name: str = "kernel") -> Path:
        return self.path / f"{name}.elf"

    def iso(self, name: str = "kernel") -> Path:
        return self.path / f"{name}.iso"

    def kernels(self) -> list[str]:
        """The kernels the chapter's Makefile links (KERNELS in
        common/kernel.mk): not every ELF of the build directory, where an
        earlier Makefile may have left others."""
        return makefile_values(self.directory, "$(KERNELS)")[0].split()


def makefile_values(directory: str, *expressions: str) -> list[str]:
    """What make expressions come to in a chapter's Makefile, one line
    each, with the session's variables (UBSAN=1 with --ubsan). Read into a
    scratch build root: common/kernel.mk records the compiler in the build
    root as it reads the Makefiles."""
    recipe = "; ".join(f"echo {expression}" for expression in expressions)
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            ["make", "--no-print-directory", "--silent", "-C", str(CHAPTERS / directory), f"BUILD_ROOT={scratch}",
             *make_variables(), "--eval", f"values: ; @{recipe}", "values"],
            env=make_environment(), capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.splitlines()


class Builder:
    """Runs make for a chapter (or the harness fixtures) the first time a
    test asks for it; later requests get the same result, failures too."""

    def __init__(self) -> None:
        self._results: dict[str, KernelFailure | None] = {}

    def chapter(self, name: str) -> ChapterBuild:
        __tracebackhide__ = True
        directory = chapter_directory(name)
        self.make(CHAPTERS / directory, f"chapter {directory}", make_variables())
        return ChapterBuild(directory, chapter_build(directory))

    def fixtures(self) -> Path:
        """The harness's own test kernels (harness/fixtures)."""
        __tracebackhide__ = True
        self.make(REPOSITORY / "harness" / "fixtures", "the harness fixtures")
        return FIXTURES_BUILD

    def make(self, directory: Path, what: str, variables: list[str] | None = None) -> None:
        """Runs make in a directory, once, with variables (["UBSAN=1"]) on its
        command line; raises BUILD_FAILED or TOOL_MISSING (now and on every
        later call) when it cannot."""
        __tracebackhide__ = True
        key = str(directory)
        if key not in self._results:
            self._results[key] = self._run_make(directory, what, variables or [])
        if self._results[key] is not None:
            raise self._results[key]

    @staticmethod
    def _run_make(directory: Path, what: str, variables: list[str]) -> KernelFailure | None:
        try:
            host.check()
        except KernelFailure as failure:
            return failure
        # As many jobs as CPUs, as the top Makefile gives a student's make:
        # the workers that want this chapter wait for it meanwhile.
        command = ["make", "--no-print-directory", f"--jobs={os.cpu_count() or 1}",
                   "-C", os.path.relpath(directory, REPOSITORY), *variables]
        # One lock per directory built: two chapters build side by side,
        # while two workers wanting the same chapter take turns.
        BUILD.mkdir(exist_ok=True)
        lock_path = BUILD / f".harness-build-{directory.name}.lock"
        started = time.monotonic()
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            result = subprocess.run(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace")
        run_timings.record("build", time.monotonic() - started)
        if result.returncode == 0:
            return None
        lines = result.stdout.rstrip().splitlines()
        errors = [line for line in lines if ERROR_WORD.search(line)]
        first_error = errors[0].strip() if errors else (lines[-1] if lines else "no output")
        log = artifacts() / f"build-{directory.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout)
        return KernelFailure(Verdict.BUILD_FAILED, f"{what} did not build: {first_error}",
                             f"run `{' '.join(command)}` to see the build; fix the first error first",
                             f"make output (last lines; all of it in {log}):\n"
                             + "\n".join(lines[-OUTPUT_TAIL_LINES:]))
