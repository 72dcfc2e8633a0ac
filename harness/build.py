"""Builds what the selected tests need, once per test session, and turns a
missing tool or a failed build into a verdict instead of a skip.

Under pytest-xdist several worker processes may want the same chapter at
once; a lock file per chapter under build/ lets one make run at a time (the
others then find everything up to date).

A student's source can make a build run for ever (a NASM `times` with a
count of billions, a constexpr computation the compiler grinds on), write a
file of gigabytes (an array of 2 GiB in .data, an `alignas` that the linker
pads the file to), write gigabytes in many files (an array of 40 MiB in a
header that every source includes lands in every object, ELF and ISO) or
eat the machine's memory, and then no verdict would come, or the disk would
be full. So every make runs within BUILD_LIMITS, as every boot runs within
boot_limits.py's, and a build stopped by one is BUILD_FAILED naming the
limit and the step that passed it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import host
import run_timings
from boot_limits import mebibytes, read_tail
from chapters import BUILD, CHAPTERS, FIXTURES_BUILD, REPOSITORY, artifacts, chapter_build, chapter_directory, \
    make_variables
from terminal import make_environment
from verdict import KernelFailure, Verdict

OUTPUT_TAIL_LINES = 40
OUTPUT_TAIL_BYTES = 64 * 1024  # of a failed build's log, read for its last lines and failed steps
LINE_LIMIT = 4096  # bytes of a log's line read at a time when looking for its first error
PROCESS_GROUP_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for what a make leaves running
# "error" as a word: a compiler's "error:", not the -Werror of a command.
ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)


@dataclass(frozen=True)
class BuildLimits:
    """What one make may take, it and every process it starts."""
    wall_seconds: float  # from make's start to its end
    cpu_seconds: int  # of CPU time, each process on its own (RLIMIT_CPU)
    file_size: int  # bytes of any one file written (RLIMIT_FSIZE), its output too
    memory: int  # bytes of each process's data (RLIMIT_DATA): its heap and other private memory
    disk_space: int  # bytes of disk that the files it adds take, all together (see DiskUse)


# Measured on this machine (2 CPUs shared with other work, load 15): a clean
# build of the largest chapter, 06, takes 8 s of CPU time and up to 62 s of
# wall time (with UBSan; with g++ alike); the largest file any chapter's
# build writes is an ISO of 1.6 MiB; the largest process is clang at
# 100 MiB, and 200 MiB when it computes a table at compile time up to its
# own step limit. Measured again at a load of 0.5 (2026-12, `make -j2 -C
# chapters/06-double-faults` into an empty BUILD_ROOT, CPU time as user +
# system): 6.4 s with clang, 6.3 s with clang and UBSan, 5.9 s with g++,
# 7.8 s with g++ and UBSan; its costliest step, one compile, 0.56 s (g++,
# UBSan). The disk space the same clean builds take, their build folder
# and TMPDIR sampled every 20 ms, and `du -s --block-size=1` of the folder
# at the end: 27.1 MiB with clang, 29.9 MiB with clang and UBSan, 28.8 MiB
# with g++, 33.4 MiB with g++ and UBSan, in 145 to 151 files (15 ISOs of
# 1.5 MiB are most of it); during the build up to 0.9 MiB more than at its
# end (an ISO's staging folder), 0.6 MiB of it in TMPDIR (g++'s; clang
# writes none there).
BUILD_LIMITS = BuildLimits(
    # Five times the slowest build seen on a loaded machine: a build that
    # runs this long is not going to end. A backstop for a step that waits
    # without using the CPU; the CPU limit stops a busy one first, at any
    # load up to 7 runnable processes a CPU (30 s of CPU in 210 s of wall).
    wall_seconds=300,
    # Fifty times the costliest step, and more than a whole clean build of
    # chapter 06 taken by one process: whatever the machine's load, a step
    # that uses this much is not going to end.
    cpu_seconds=30,
    # Forty times the largest file of a build, and half the 128 MiB of RAM
    # the machine boots with (QEMU's default), which a kernel must fit in.
    file_size=64 * 2**20,
    # Ten times the largest compiler, and the thread stacks of an ld.lld
    # on a machine of 100 CPUs (8 MiB each); small enough that two jobs at
    # it leave a CI runner of 7 GiB its memory.
    memory=2 * 2**30,
    # Thirty times the largest clean build: a chapter may have many more
    # kernels, or larger ISOs, before it comes near. Sixteen files at the
    # file size limit; an array of 40 MiB in a header that every source of
    # chapter 06 includes passes it before half of the objects are built.
    # A build stopped at it has its build folder removed, so that the
    # suite's nine builds (and grading's, one student after another) hold
    # no more than one limit and its overshoot on disk for each make that
    # runs at a time.
    disk_space=2**30)

# Reading chapter 06's Makefile for its KERNELS takes 0.01 s (measured
# 2026-12): one that takes a minute waits for something that does not come
# (a $(shell) command).
MAKEFILE_READ_LIMITS = replace(BUILD_LIMITS, wall_seconds=60)

# A process past its CPU limit gets SIGXCPU, which ends it unless it is
# caught; one that catches it and goes on gets SIGKILL this much later.
CPU_KILL_GRACE_SECONDS = 2

# How often the folders a build writes into are measured against its limit
# of disk space (and once more when it ends). A build past it may have
# written, before it is stopped, what it writes in one interval and one
# measurement, and what a process that ignores SIGTERM writes in
# PROCESS_GROUP_GRACE: this machine writes 0.8 GB/s into its page cache
# (files of 60 MiB, from one process or two), so some 80 MiB, and 800 MiB
# more for such a process, until the build folder is removed. Measuring
# chapter 06's build folder and sources (250 files and folders) takes
# 1.5 ms: 1.5 % of a CPU while a build runs.
DISK_SAMPLE_INTERVAL = 0.1

# What make says when a process it ran died of SIGXFSZ: the signal's name
# (a command make ran itself) or the shell's exit status 128 + 25; or what
# a process that ignores SIGXFSZ says of the write that failed instead, with
# EFBIG (xorriso: "write(2) returned -1. : File too large").
FILE_SIZE_EXCEEDED = re.compile(r"File size limit exceeded|File too large|\*\*\* \[.*\] Error 153$", re.MULTILINE)
# What make, the shell or g++ says when a process died of SIGXCPU, the
# CPU limit's signal ("make: *** [Makefile:2: boot.o] CPU time limit
# exceeded", "g++: internal compiler error: CPU time limit exceeded signal
# terminated program cc1plus"), or of the SIGKILL that follows it (make's
# "... boot.o] Killed", the shell's "Killed"). Nothing else in a build
# sends SIGKILL: the harness's own comes after the wall limit, or after
# make ended, and the memory limit fails an allocation before the kernel's
# out-of-memory killer would choose a process of the build.
CPU_TIME_EXCEEDED = re.compile(r"CPU time limit exceeded|^Killed$|\] Killed$", re.MULTILINE)
# How clang, ld.lld, cc1plus and nasm say that an allocation failed.
OUT_OF_MEMORY = re.compile(r"out of memory|memory exhausted|std::bad_alloc|Cannot allocate memory", re.IGNORECASE)
# make's line for a step that failed: `make: *** [kernel.mk:73: build/02/obj/main.o] Error 1`.
FAILED_STEP = re.compile(r"\*\*\* \[(?:[^\]]*?:\d+: )?([^\]]+)\]")
# A variable set on make's command line: `BUILD_ROOT=/tmp/root`, `UBSAN=1`.
MAKE_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


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


def makefile_values(directory: str | Path, *expressions: str,
                    limits: BuildLimits = MAKEFILE_READ_LIMITS) -> list[str]:
    """What make expressions come to in a chapter's Makefile (or in the
    Makefile of any directory), one line each, with the session's variables
    (UBSAN=1 with --ubsan). A student's Makefile is read within limits, as
    every make of the harness runs: one that hangs or fails as it is read
    is BUILD_FAILED, saying why. Read into a scratch build root:
    common/kernel.mk records the compiler in the build root as it reads the
    Makefiles. The values go to a file of their own, apart from make's
    messages."""
    makefile = CHAPTERS / directory / "Makefile"
    with tempfile.TemporaryDirectory() as scratch:
        values = Path(scratch) / "values"
        recipe = "; ".join(f"echo {expression} >> {values}" for expression in expressions)
        command = ["make", "--no-print-directory", "--silent", "-C", str(makefile.parent), f"BUILD_ROOT={scratch}",
                   *make_variables(), "--eval", f"values: ; @{recipe}", "values"]
        make_within_limits(command, shorten(str(makefile), BUILD.parent),
                           artifacts() / f"makefile-values-{os.getpid()}.log", limits, make_environment(),
                           failed=f"could not be read for {', '.join(expressions)}")
        return values.read_text().splitlines()


class Builder:
    """Runs make for a chapter (or the harness fixtures) the first time a
    test asks for it; later requests get the same result, failures too.
    Each make runs within `limits` (the tests of the limits pass small ones)."""

    def __init__(self, limits: BuildLimits = BUILD_LIMITS) -> None:
        self._limits = limits
        self._results: dict[str, KernelFailure | None] = {}

    def chapter(self, name: str) -> ChapterBuild:
        __tracebackhide__ = True
        directory = chapter_directory(name)
        self.make(CHAPTERS / directory, f"chapter {directory}", make_variables())
        return ChapterBuild(directory, chapter_build(directory))

    def fixtures(self) -> Path:
        """The harness's own test kernels (harness/fixtures)."""
        __tracebackhide__ = True
        self.make(REPOSITORY / "harness" / "fixtures", "the harness fixtures", build_folder=FIXTURES_BUILD)
        return FIXTURES_BUILD

    def make(self, directory: Path, what: str, variables: list[str] | None = None, *, name: str | None = None,
             env: dict[str, str] | None = None, build_folder: Path | None = None) -> None:
        """Runs make in a directory, once, with variables (["UBSAN=1"]) on its
        command line; raises BUILD_FAILED or TOOL_MISSING (now and on every
        later call) when it cannot. `name` (the directory's name unless
        given) names the build's lock and log: another build of the same
        directory, with the other compiler into a build root of its own,
        needs a name of its own. `env` replaces the environment make
        inherits (which carries a make test CXX=g++ to the chapters).
        `build_folder` is where the make puts what it builds, if not where
        common/kernel.mk would (build_folder_of)."""
        __tracebackhide__ = True
        name = name or directory.name
        if name not in self._results:
            self._results[name] = self._run_make(directory, what, variables or [], name, env, build_folder)
        if self._results[name] is not None:
            raise self._results[name]

    def _run_make(self, directory: Path, what: str, variables: list[str], name: str,
                  env: dict[str, str] | None, build_folder: Path | None) -> KernelFailure | None:
        __tracebackhide__ = True
        try:
            host.check()
        except KernelFailure as failure:
            return failure
        # As many jobs as CPUs, as the top Makefile gives a student's make:
        # the workers that want this chapter wait for it meanwhile.
        command = ["make", "--no-print-directory", f"--jobs={os.cpu_count() or 1}",
                   "-C", os.path.relpath(directory, REPOSITORY), *variables]
        # One lock per build: two chapters build side by side, while two
        # workers wanting the same chapter take turns.
        BUILD.mkdir(exist_ok=True)
        with (BUILD / f".harness-build-{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                make_within_limits(command, what, artifacts() / f"build-{name}.log", self._limits, env,
                                   build_folder=build_folder)
            except KernelFailure as failure:
                return failure
        return None


def make_within_limits(command: list[str], what: str, log: Path, limits: BuildLimits = BUILD_LIMITS,
                       env: dict[str, str] | None = None, *, checkout: Path | None = None,
                       failed: str = "did not build", build_folder: Path | None = None) -> str:
    """Runs a make command from the repository's root (or `checkout`'s, a
    tree other than the harness's: grading's copy of a student's checkout)
    within limits, and returns its output; raises BUILD_FAILED, naming the
    limit it passed or its first error, when it fails: "{what} {failed}:
    {why}". make writes straight into the log, which is kept if the build
    fails: its size is bounded as every file the build writes is. A caller
    that other workers may race to the same build holds a lock around this:
    the log is read or removed before it returns.
    The disk space the build takes is measured in its build folder
    (`build_folder`, or where common/kernel.mk puts it: build_folder_of)
    and in the directory make works in (where a wrong rule writes). A build
    past that limit has its build folder removed: the files that passed it
    would stay on disk, complete and up to date for the next make, and all
    that the folder holds is what a build makes anew."""
    __tracebackhide__ = True
    directory = checkout or REPOSITORY
    build_folder = build_folder or build_folder_of(command, directory)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as log_file:
        ended = run_within_limits(command, limits, directory, log_file, subprocess.STDOUT, env,
                                  writes_into=[build_folder, directory_of_make(command, directory)])
    run_timings.record("build", time.monotonic() - started)
    if ended.status == 0:
        output = log.read_text(errors="replace")
        log.unlink()
        return output
    if ended.overfilled is not None:
        shutil.rmtree(build_folder, ignore_errors=True)
    output = read_tail(log, OUTPUT_TAIL_BYTES)
    summary, look_at = what_failed(ended, log, output, limits, checkout or BUILD.parent)
    lines = output.rstrip().splitlines()
    raise KernelFailure(Verdict.BUILD_FAILED, f"{what} {failed}: {summary}",
                        f"{look_at}; run `{' '.join(command)}` to see the build",
                        f"make output (last lines; all of it in {log}):\n"
                        + "\n".join(lines[-OUTPUT_TAIL_LINES:]))


def what_failed(ended: Ended, log: Path, output: str, limits: BuildLimits, tree: Path) -> tuple[str, str]:
    """The limit the build passed and the step that passed it (named from
    `tree`), or else the build's first error; and what to look at. `output`
    is the end of the log."""
    failed = failed_steps(output, tree)
    steps = " or ".join(failed) or "a step"
    still_making = f" (still making {' and '.join(failed)})" if failed else ""
    if (overfilled := ended.overfilled) is not None:
        return (f"the build was stopped: it had written {mebibytes(overfilled.written)}, most of it into "
                f"{shorten(overfilled.folder, tree)}, more than the {mebibytes(limits.disk_space)} a build may "
                f"write in all{still_making}",
                "no chapter's build comes near it: look for a large array, alignas or NASM times count in a header "
                "that many sources include, or a recipe that writes without end")
    if ended.status is None:
        return (f"the build was stopped: it did not finish in {limits.wall_seconds:g} s{still_making}",
                "look for a step that never ends: a NASM times or %rep with a huge count, a recipe that loops")
    # make cannot say why it stops when the log is full, nor can the step.
    if log.stat().st_size >= limits.file_size:
        return (f"the build was stopped: its output passed {mebibytes(limits.file_size)}",
                "fix the first error of the log first")
    if FILE_SIZE_EXCEEDED.search(output):
        return (f"the build was stopped: making {steps} wrote a file larger than {mebibytes(limits.file_size)}",
                "no kernel's file comes near it: look for a huge array, alignas or NASM times count in its source")
    if ended.status in (-signal.SIGXCPU, -signal.SIGKILL) or CPU_TIME_EXCEEDED.search(output):
        # make itself was ended when its own functions ground on (no step failed).
        who = f"making {steps}" if failed else "make itself"
        return (f"the build was stopped: {who} passed the CPU time limit ({limits.cpu_seconds} s for each process)",
                "look for a step that never ends: a NASM times or %rep with a huge count, a constexpr or "
                "template computation, a recipe that loops")
    if (out_of_memory := first_line_matching(log, OUT_OF_MEMORY)) is not None:
        return (f"the build was stopped: making {steps} needed more than {mebibytes(limits.memory)} of memory "
                f"('{out_of_memory}')",
                "look for a huge initializer, or a constexpr or template computation, in its source")
    error = first_line_matching(log, ERROR_WORD)
    return (error if error is not None else (output.rstrip().splitlines() or ["no output"])[-1],
            "fix the first error first")


@dataclass(frozen=True)
class Overfilled:
    """What a run had written when it passed its limit of disk space."""
    written: int  # bytes its folders' files took, all together, more than when it started
    folder: str  # the folder it wrote most into ("its TMPDIR" for that one)


@dataclass(frozen=True)
class Ended:
    """How a run within limits ended."""
    status: int | None  # its exit status; None if it was stopped at its wall time or disk space
    overfilled: Overfilled | None = None  # what it had written, if its disk space stopped it


def run_within_limits(command: list[str], limits: BuildLimits, directory: Path, stdout: IO[bytes],
                      stderr: IO[bytes] | int, env: dict[str, str] | None = None, *,
                      writes_into: Sequence[Path] = ()) -> Ended:
    """Runs a command in a directory within limits (`within`, and its disk
    space in the folders it writes into: `writes_into` and its TMPDIR), with
    its output and errors where the caller says, in the environment given
    (this one, if None); returns how it ended. It runs in a process group
    of its own, which is ended when this returns, so that nothing it
    started outlives it, also when the harness is interrupted; and with a
    TMPDIR of its own, removed then too: clang, killed by a limit, writes a
    crash reproducer there (the preprocessed source and a script, a MiB for
    the tests' own broken sources), which each run of the suite left in
    /tmp for good."""
    with tempfile.TemporaryDirectory(prefix="harness-tmp-") as scratch:
        environment = (dict(os.environ) if env is None else env) | {"TMPDIR": scratch}
        disk = DiskUse({Path(scratch): "its TMPDIR"} | {folder: str(folder) for folder in writes_into})
        process = subprocess.Popen(within(limits, command), cwd=directory, stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=stderr, env=environment, start_new_session=True)
        try:
            return wait_within(process, limits, disk)
        finally:
            end_process_group(process)


def wait_within(process: subprocess.Popen, limits: BuildLimits, disk: DiskUse) -> Ended:
    """Waits for a process to end within its wall time, measuring its disk
    space every DISK_SAMPLE_INTERVAL and once more when it has ended (one
    that writes its gigabytes within an interval passes the limit all the
    same)."""
    deadline = time.monotonic() + limits.wall_seconds
    status = None
    while status is None and time.monotonic() < deadline:
        try:
            status = process.wait(timeout=min(DISK_SAMPLE_INTERVAL, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        if (overfilled := disk.past(limits.disk_space)) is not None:
            return Ended(None, overfilled)
    return Ended(status)


class DiskUse:
    """The disk space a run's files take in the folders it writes into,
    more than they took when it started (as `du` counts it: the blocks of
    each file and folder below them, so that a sparse file counts what it
    has written). A folder inside another is measured with it."""

    def __init__(self, folders: dict[Path, str]) -> None:
        """`folders`: each folder and how to name it."""
        self._names = {folder: name for folder, name in folders.items()
                       if not any(folder != other and folder.is_relative_to(other) for other in folders)}
        self._before = {folder: bytes_on_disk(folder) for folder in self._names}

    def past(self, limit: int) -> Overfilled | None:
        """What the run has written, if that is more than the limit."""
        added = {folder: bytes_on_disk(folder) - before for folder, before in self._before.items()}
        written = sum(added.values())
        return Overfilled(written, self._names[max(added, key=added.__getitem__)]) if written > limit else None


def bytes_on_disk(folder: Path) -> int:
    """The disk space the files and folders below a folder take, 0 if there
    is no such folder. Symbolic links are not followed, a file removed as
    it is measured counts for nothing, and the folders are walked from a
    list rather than by recursion, which a deep tree would exhaust."""
    total = 0
    unmeasured = [folder]
    while unmeasured:
        try:
            entries = list(os.scandir(unmeasured.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    unmeasured.append(Path(entry.path))
            except OSError:
                continue
    return total


def within(limits: BuildLimits, command: list[str]) -> list[str]:
    """The command, run within the limits of file size, memory and CPU
    time. They are the kernel's (prlimit), inherited by every process it
    starts: past them a write ends its process with SIGXFSZ, an allocation
    fails, the CPU time ends it with SIGXCPU (and SIGKILL if it goes on).
    No process dumps core: a killed compiler would otherwise leave a file
    the size of its memory."""
    return ["prlimit", f"--fsize={limits.file_size}", f"--data={limits.memory}",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + CPU_KILL_GRACE_SECONDS}", "--core=0",
            "--", *command]


# A program that a student's source makes, run on the host by a test
# (chapter 3's format.cpp built for the host): it takes a fraction of a
# second, and prints a few KiB. Its compile, and the student's own scripts
# (common/make-iso.sh), run with a build's limits.
PROGRAM_LIMITS = replace(BUILD_LIMITS, wall_seconds=60, cpu_seconds=10, file_size=2**20)


def run_program_within_limits(command: list[str], what: str, limits: BuildLimits = PROGRAM_LIMITS, *,
                              writes_into: Sequence[Path] = ()) -> subprocess.CompletedProcess[str]:
    """Runs a program that a student's source makes or is (or a compiler
    of that source) within limits, its standard output and error each into
    a file of its own (a pipe would hold an output without end in the
    harness's memory), and returns them and its status. Its disk space is
    measured in its TMPDIR and in the folders `writes_into`. One that
    passes a limit of time is a HANG, one that prints past the file size or
    writes past its disk space a FAIL: either names `what` and the limit."""
    __tracebackhide__ = True
    with tempfile.TemporaryDirectory() as scratch:
        outputs = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with outputs[0].open("wb") as stdout, outputs[1].open("wb") as stderr:
            ended = run_within_limits(command, limits, REPOSITORY, stdout, stderr, writes_into=writes_into)
        status = ended.status
        if (overfilled := ended.overfilled) is not None:
            raise KernelFailure(Verdict.FAIL, f"{what} wrote {mebibytes(overfilled.written)}, most of it into "
                                f"{overfilled.folder}, more than the {mebibytes(limits.disk_space)} it may write "
                                "in all", "look for a loop that writes files without end")
        if status is None:
            raise KernelFailure(Verdict.HANG, f"{what} did not end within {limits.wall_seconds:g} s",
                                "look for a loop that never ends")
        if status in (-signal.SIGXCPU, -signal.SIGKILL):
            raise KernelFailure(Verdict.HANG, f"{what} passed its CPU time limit ({limits.cpu_seconds} s)",
                                "look for a loop that never ends")
        if any(output.stat().st_size >= limits.file_size for output in outputs):
            # Killed by SIGXFSZ, or (behind a shell or a wrapper) its exit
            # status saying so: its output is what shows it.
            raise KernelFailure(Verdict.FAIL, f"{what} printed more than {mebibytes(limits.file_size)}",
                                "look for a loop that prints without end",
                                read_tail(outputs[0], OUTPUT_TAIL_BYTES // 16))
        return subprocess.CompletedProcess(command, status, *(output.read_text(errors="replace")
                                                              for output in outputs))


def end_process_group(process: subprocess.Popen) -> None:
    """SIGTERM first, so that make deletes the targets it was making (a half
    written object would be up to date for the next make), then SIGKILL;
    returns once no process of the group runs on."""
    for stop, grace in ((signal.SIGTERM, PROCESS_GROUP_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, stop)
        except ProcessLookupError:
            return  # no process of the group is left
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # SIGKILL ends the others (what a recipe left in the background) a
    # moment after killpg returns. Those that have ended stay in the group
    # until whoever adopted them reaps them, which may never come soon: so
    # the wait is bounded.
    deadline = time.monotonic() + PROCESS_GROUP_GRACE
    while time.monotonic() < deadline and any_process_runs_in_group(process.pid):
        time.sleep(0.01)


def any_process_runs_in_group(group: int) -> bool:
    """Whether a process of the group runs, one that has ended and is
    waiting to be reaped (a zombie) aside."""
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            state, _, group_of_process = status.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # it ended meanwhile
        if int(group_of_process) == group and state != "Z":
            return True
    return False


def directory_of_make(command: list[str], directory: Path) -> Path:
    """The directory a make command works in (its -C), run from `directory`."""
    return (directory / command[command.index("-C") + 1] if "-C" in command else directory).resolve()


def build_folder_of(command: list[str], directory: Path) -> Path:
    """Where a make command, run from `directory`, puts what it builds, as
    common/kernel.mk chooses: $(BUILD_ROOT)/<chapter>, with the BUILD_ROOT
    the command sets (relative to the chapter, as make reads it) or else
    the build/ of the tree that the chapter is in (build/ubsan/ with
    UBSAN=1): the repository's, a workspace's or a student's checkout's."""
    chapter = directory_of_make(command, directory)
    variables = dict(match.groups() for argument in command if (match := MAKE_VARIABLE.fullmatch(argument)))
    tree_build_root = chapter.parent.parent / ("build/ubsan" if variables.get("UBSAN") == "1" else "build")
    build_root = chapter / variables["BUILD_ROOT"] if "BUILD_ROOT" in variables else tree_build_root
    return Path(os.path.normpath(build_root / chapter.name))


def failed_steps(output: str, tree: Path) -> list[str]:
    """The targets make reports as failed (or stopped), in order, each once."""
    return list(dict.fromkeys(shorten(target, tree) for target in FAILED_STEP.findall(output)))


def shorten(path: str, tree: Path) -> str:
    """A target as the student knows it: below their tree (the repository,
    the workspace or the checkout) if it is there."""
    try:
        return str(Path(path).relative_to(tree))
    except ValueError:
        return path


def first_line_matching(log: Path, pattern: re.Pattern[str]) -> str | None:
    """The first line of a log that the pattern finds, read a line of at
    most LINE_LIMIT bytes at a time (a log may hold one endless line)."""
    with log.open("rb") as lines:
        for line in iter(lambda: lines.readline(LINE_LIMIT), b""):
            text = line.decode(errors="replace").strip()
            if pattern.search(text):
                return text
    return None
