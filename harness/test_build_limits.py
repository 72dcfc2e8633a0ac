"""The limits of a build (build.py's BuildLimits): a student's source that
would make the build run for ever (busy or waiting), write a file of
gigabytes, write gigabytes in many files or eat the machine's memory must
end in BUILD_FAILED naming the limit and the step. So must a program that a
test runs on the host from a student's source (chapter 3's format.cpp) or
script (make-iso.sh): a HANG at its time limits, a FAIL past its output's
size or its disk space.

Each test builds a made-up chapter of one source in tmp_path through the
harness's own code path (Builder.make), or reads its Makefile as the tests
read a chapter's KERNELS (makefile_values), with limits small enough to be
reached in a second or two; the chapters are built with BUILD_LIMITS (so
the rest of the suite passing shows that those are not so tight that they
fail a chapter that is right).
A step of these chapters ends after 30 s in any case, so that a harness
without a limit fails its test rather than waiting for ever.
"""

from __future__ import annotations

import re
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from build import BUILD_LIMITS, Builder, BuildLimits, makefile_values, run_program_within_limits
from chapters import CHAPTERS, artifacts, make_variables
from verdict import KernelFailure, Verdict

MiB = 2**20
# Small limits of file size, memory and disk space, reached in a second or
# two by the broken sources below; time enough for a loaded machine to
# compile them.
SMALL = BuildLimits(wall_seconds=60, cpu_seconds=30, file_size=1 * MiB, memory=48 * MiB, disk_space=4 * MiB)
SHORT = replace(SMALL, wall_seconds=3)
# A second of CPU time: the others' wall time and their compilers' CPU time
# are far beyond what the broken sources reach it in.
BUSY = replace(SMALL, cpu_seconds=1)
CLANG = "clang++ --target=x86_64-unknown-none-elf -ffreestanding -O2 -c"
NASM = "nasm -f elf64"
# A test's own bound on each step, past every limit above: without its limit
# the harness reports this step's failure instead, and the test fails.
STEP_TIMEOUT = "timeout 30"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """A made-up chapter's directory, its name unique (the build log is
    named after it, and the tmp_path of two xdist workers may share a
    name); its build log is removed afterwards, when a test failed too."""
    chapter = Path(tempfile.mkdtemp(prefix="made-up-chapter-", dir=tmp_path))
    yield chapter
    build_log(chapter).unlink(missing_ok=True)


@pytest.fixture
def core_dumps_allowed() -> Iterator[None]:
    """The test's process, and so the build it starts, as a shell with
    `ulimit -c unlimited` has it (this machine's default is none): a process
    the CPU limit ends would dump its core into the build's directory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def build_log(directory: Path) -> Path:
    return artifacts() / f"build-{directory.name}.log"


def chapter(directory: Path, source_name: str, source: str, compiler: str) -> Path:
    """A made-up chapter: a Makefile that makes table.o of one source."""
    (directory / source_name).write_text(source)
    (directory / "Makefile").write_text(
        f"table.o: {source_name}\n\t{STEP_TIMEOUT} {compiler} {source_name} -o table.o\n")
    return directory


def processes_in(directory: Path) -> list[str]:
    """The command lines of the processes working in a directory."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and (process / "cwd").resolve() == directory.resolve():
                found.append((process / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass  # it ended, or is not ours to read
    return found


def build_failure(directory: Path, limits: BuildLimits) -> KernelFailure:
    with pytest.raises(KernelFailure) as caught:
        Builder(limits).make(directory, "the made-up chapter")
    assert caught.value.verdict is Verdict.BUILD_FAILED, caught.value
    return caught.value


def reading_failure(directory: Path) -> KernelFailure:
    """The failure of reading a made-up chapter's Makefile for $(KERNELS),
    within SHORT, as the tests read a chapter's KERNELS."""
    with pytest.raises(KernelFailure) as caught:
        makefile_values(directory, "$(KERNELS)", limits=SHORT)
    assert caught.value.verdict is Verdict.BUILD_FAILED, caught.value
    return caught.value


def test_a_build_within_its_limits_passes(directory):
    """The small limits themselves do not fail a build: what fails below
    fails for its mistake."""
    chapter(directory, "table.cpp", "unsigned char table[4096] = {1};\n", CLANG)
    Builder(SMALL).make(directory, "the made-up chapter")
    assert (directory / "table.o").exists()
    assert not build_log(directory).exists(), "a passing build keeps its log"


@pytest.mark.parametrize("makefile", [
    # A table of 2 GiB that NASM would assemble for some five minutes of CPU
    # time, in memory, before writing it: NASM ends at SIGXCPU.
    f"table.o:\n\t{STEP_TIMEOUT} {NASM} table.asm -o table.o\n",
    # A recipe that loops: the shell ends at SIGXCPU.
    f"table.o:\n\t{STEP_TIMEOUT} sh -c 'while :; do :; done'\n",
    # One that goes on after SIGXCPU (as clang does a moment, to print its
    # stack) ends at SIGKILL: make says so, or the shell of a recipe of
    # several commands.
    f"table.o:\n\t{STEP_TIMEOUT} sh -c 'trap \"\" XCPU; while :; do :; done'\n",
    f"table.o:\n\t{STEP_TIMEOUT} sh -c 'trap \"\" XCPU; while :; do :; done' && touch $@\n",
], ids=["nasm-times", "recipe-loop", "sigxcpu-caught", "sigxcpu-caught-in-a-shell"])
def test_a_build_that_never_ends_is_stopped_at_its_cpu_time(directory, makefile, core_dumps_allowed):
    # The verdict of a busy step is the same on a machine under any load.
    (directory / "table.asm").write_text("section .rodata\ntable: times 0x7fffffff db 0\n")
    (directory / "Makefile").write_text(makefile)
    failure = build_failure(directory, BUSY)
    assert failure.summary == ("the made-up chapter did not build: the build was stopped: "
                               "making table.o passed the CPU time limit (1 s for each process)")
    assert processes_in(directory) == [], "processes outlived their build"
    assert not list(directory.glob("core*")), "a process that passed the CPU limit dumped its core"


def test_a_makefile_that_grinds_is_stopped_at_make_s_cpu_time(directory, core_dumps_allowed):
    # make's own functions, eight billion times round a $(foreach): make is
    # the process that passes the limit, and no step has failed.
    (directory / "Makefile").write_text("L := $(shell seq 2000)\n"
                                        "X := $(foreach a,$(L),$(foreach b,$(L),$(foreach c,$(L),)))\n"
                                        "table.o: ; touch $@\n")
    failure = build_failure(directory, BUSY)
    assert failure.summary == ("the made-up chapter did not build: the build was stopped: "
                               "make itself passed the CPU time limit (1 s for each process)")
    assert not list(directory.glob("core*")), "make dumped its core at the CPU limit"


def test_a_build_that_waits_for_ever_is_stopped(directory):
    # A step that uses no CPU time (it waits for something that never
    # comes): the wall time is its limit.
    (directory / "Makefile").write_text(f"table.o:\n\t{STEP_TIMEOUT} sleep 60\n")
    started = time.monotonic()
    failure = build_failure(directory, SHORT)
    assert failure.summary == ("the made-up chapter did not build: the build was stopped: "
                               "it did not finish in 3 s (still making table.o)")
    assert time.monotonic() - started < SHORT.wall_seconds + 5
    assert "table.o" in build_log(directory).read_text()
    assert processes_in(directory) == [], "processes outlived their build"


def test_what_a_build_leaves_in_its_temporary_directory_goes_with_it(directory):
    # clang, killed by a limit (the sources below), writes a crash
    # reproducer of a MiB into TMPDIR: in /tmp, every run of the suite
    # left them there for good. (${TMPDIR:-/tmp}, as clang chooses.)
    (directory / "Makefile").write_text(
        "all:\n\tt=$${TMPDIR:-/tmp}; touch $$t/reproducer.sh && echo $$t > left.txt\n")
    Builder(SMALL).make(directory, "the made-up chapter")
    left = Path((directory / "left.txt").read_text().strip())
    assert left != Path(tempfile.gettempdir()) and not left.exists(), f"the build left {left} behind"
    ran = run_program_within_limits(["sh", "-c", "t=${TMPDIR:-/tmp}; touch $t/reproducer.sh && echo $t"],
                                    "the made-up program")
    left = Path(ran.stdout.strip())
    assert left != Path(tempfile.gettempdir()) and not left.exists(), f"the program left {left} behind"


def test_nothing_a_build_starts_outlives_it(directory):
    # A recipe that leaves a process behind, which make does not wait for
    # (without STEP_TIMEOUT: `timeout` puts its command in a process group
    # of its own, out of the build's).
    (directory / "Makefile").write_text("all:\n\tsleep 60 &\n")
    Builder(SMALL).make(directory, "the made-up chapter")
    assert processes_in(directory) == [], "processes outlived their build"


@pytest.mark.parametrize("source_name, source, compiler", [
    # A 2 GiB .data in the chapters (a 4 MiB one here): the object holds it.
    ("table.cpp", "unsigned char table[4u << 20] = {1};\n", CLANG),
    # A global aligned to 256 MiB in the chapters: the object is padded to it.
    ("table.cpp", "alignas(4u << 20) unsigned char table[16] = {1};\n", CLANG),
    ("table.asm", "section .data\ntable: times 4 << 20 db 0\n", NASM),
], ids=["array", "alignas", "nasm-times"])
def test_a_build_that_writes_a_huge_file_is_stopped(directory, source_name, source, compiler):
    chapter(directory, source_name, source, compiler)
    failure = build_failure(directory, SMALL)
    assert failure.summary == ("the made-up chapter did not build: the build was stopped: "
                               "making table.o wrote a file larger than 1 MiB")


def test_a_step_stopped_at_the_file_size_leaves_no_file_cut_short(tmp_path):
    """xorriso, stopped at the file size limit as it writes chapter 02's
    ISO of 1.5 MiB, leaves the first MiB of it behind; newer than the
    kernel it was made of, the next make would find that image up to date,
    and make run would boot half of it. The chapters' rules
    (common/kernel.mk) delete the target of a recipe that failed."""
    build_root = tmp_path / "build"
    with pytest.raises(KernelFailure) as caught:
        Builder(replace(BUILD_LIMITS, file_size=1 * MiB)).make(
            CHAPTERS / "02-minimal-kernel", "chapter 02", [*make_variables(), f"BUILD_ROOT={build_root}"],
            name=f"cut-short-{tmp_path.name}")
    assert caught.value.summary.endswith("02-minimal-kernel/kernel.iso wrote a file larger than 1 MiB"), \
        caught.value.summary
    iso = build_root / "02-minimal-kernel" / "kernel.iso"
    assert not iso.exists(), f"the stopped step left {iso.name} cut short at {iso.stat().st_size} bytes"


def writing(folder: str, files: int, pause: float = 0) -> str:
    """A shell command that writes files of 512 KiB, half the file size
    limit, into a folder, with a pause after each."""
    return (f"mkdir -p {folder} && for i in $(seq {files}); do head --bytes=512K /dev/zero > {folder}/part$i; "
            f"sleep {pause}; done")


def writing_slowly(folder: str) -> str:
    """100 MiB in 10 s, past the disk space of SMALL in half a second. It
    ends by itself, and so runs without STEP_TIMEOUT, which would take it
    out of the build's process group."""
    return writing(folder, files=200, pause=0.05)


def writer_makefile(command: str) -> str:
    return f"all:\n\t{command.replace('$', '$$')}\n"


def build_root_beside(directory: Path) -> Path:
    """A BUILD_ROOT for a made-up chapter, beside it as build/ is beside chapters/."""
    return directory.parent / "build"


def build_folder(directory: Path) -> Path:
    """Where common/kernel.mk would put the made-up chapter's kernels."""
    return build_root_beside(directory) / directory.name


def written_past_the_disk_space(summary: str, start: str, folder: str | Path) -> float:
    """The MiB that a summary of a build (or program) stopped at SMALL's
    disk space says it had written, after its `start`; fails the test if
    the summary is not that, naming `folder`."""
    written = re.fullmatch(rf"{re.escape(start)}([\d.]+) MiB, most of it into {re.escape(str(folder))}, more than "
                           rf"the 4 MiB (?:a build|it) may write in all(?: \(still making all\))?", summary)
    assert written is not None, summary
    return float(written[1])


def make_past_the_disk_space(directory: Path) -> KernelFailure:
    with pytest.raises(KernelFailure) as caught:
        Builder(SMALL).make(directory, "the made-up chapter", [f"BUILD_ROOT={build_root_beside(directory)}"])
    assert caught.value.verdict is Verdict.BUILD_FAILED, caught.value
    return caught.value


@pytest.mark.parametrize(("folder", "named"), [
    # common/kernel.mk's build folder, where the objects, ELFs and ISOs go
    (build_folder, build_folder),
    # where a compiler writes its temporary files
    (lambda directory: '"$TMPDIR"', lambda directory: "its TMPDIR"),
    # the chapter's own directory, where a wrong rule writes
    (lambda directory: ".", lambda directory: directory),
], ids=["build-folder", "tmpdir", "chapter-directory"])
def test_a_build_that_writes_too_much_in_all_is_stopped(directory, folder, named):
    (directory / "Makefile").write_text(writer_makefile(writing_slowly(folder(directory))))
    started = time.monotonic()
    failure = make_past_the_disk_space(directory)
    written = written_past_the_disk_space(failure.summary, "the made-up chapter did not build: the build was "
                                          "stopped: it had written ", named(directory))
    assert written < 2 * SMALL.disk_space / MiB, "the build was stopped long after its limit"
    assert time.monotonic() - started < 5, "the build was not stopped at its limit"
    assert processes_in(directory) == [], "processes outlived their build"


def test_a_build_that_writes_too_much_between_two_measurements_fails(directory):
    # 8 MiB, written before the first: the folders are measured once more
    # when the build has ended.
    (directory / "Makefile").write_text(writer_makefile(writing(".", files=16)))
    failure = make_past_the_disk_space(directory)
    written_past_the_disk_space(failure.summary, "the made-up chapter did not build: the build was stopped: it had "
                                "written ", directory)


def test_a_build_stopped_at_its_disk_space_leaves_no_build_folder(directory):
    # Its files would take the disk, and be up to date for the next make.
    (directory / "Makefile").write_text(writer_makefile(writing_slowly(str(build_folder(directory)))))
    make_past_the_disk_space(directory)
    assert not build_folder(directory).exists(), "the stopped build left its folder"


def test_a_build_that_prints_without_end_is_stopped(directory):
    # 16 MiB of errors: without its limit the build ends, and passes.
    (directory / "Makefile").write_text("all:\n\tyes 'table.cpp:1: error: again' | head --bytes=16M\n")
    failure = build_failure(directory, SMALL)
    assert failure.summary == "the made-up chapter did not build: the build was stopped: its output passed 1 MiB"
    assert "table.cpp:1: error: again" in failure.details
    assert build_log(directory).stat().st_size == SMALL.file_size


def test_a_build_that_eats_the_memory_is_stopped(directory):
    # clang needs some 150 MiB for an initializer of half a million numbers.
    chapter(directory, "table.cpp", "int table[] = {" + "0," * 500_000 + "};\n", CLANG)
    failure = build_failure(directory, SMALL)
    assert failure.summary == ("the made-up chapter did not build: the build was stopped: making table.o "
                               "needed more than 48 MiB of memory ('LLVM ERROR: out of memory')")


def test_a_makefile_is_read_for_its_values_alone(directory):
    # make's messages (a warning here) are no values.
    (directory / "Makefile").write_text("$(warning reading the Makefile)\nKERNELS := kernel test_kernel\n")
    assert makefile_values(directory, "$(KERNELS)", "$(words $(KERNELS))", limits=SHORT) == ["kernel test_kernel", "2"]


def test_a_makefile_that_hangs_as_it_is_read_is_stopped(directory):
    # A $(shell) command that waits for ever, where the tests read a
    # chapter's KERNELS or TEST_KERNELS; here it waits 30 s (without
    # `timeout`, which would take it out of the build's process group).
    (directory / "Makefile").write_text("VERSION := $(shell sleep 30)\nKERNELS := kernel\n")
    assert reading_failure(directory).summary == (f"{directory}/Makefile could not be read for $(KERNELS): the "
                                                  "build was stopped: it did not finish in 3 s")
    assert processes_in(directory) == [], "processes outlived the reading of the Makefile"


def test_a_makefile_that_fails_as_it_is_read_says_why(directory):
    (directory / "Makefile").write_text("$(error set ARCH to i386 or x86_64)\n")
    assert reading_failure(directory).summary == (f"{directory}/Makefile could not be read for $(KERNELS): "
                                                  "Makefile:1: *** set ARCH to i386 or x86_64.  Stop.")


# --- a program that a student's source makes or is, run by a test ------------------

def test_a_program_within_its_limits_gives_its_outputs_apart_and_its_status():
    ran = run_program_within_limits(["sh", "-c", "echo out; echo err >&2; exit 3"], "the made-up program", BUSY)
    assert (ran.stdout, ran.stderr, ran.returncode) == ("out\n", "err\n", 3)


@pytest.mark.parametrize(("program", "verdict", "summary"), [
    # chapter 3's format.cpp built for the host, with a loop that never ends
    ("while :; do :; done", Verdict.HANG, "the made-up program passed its CPU time limit (1 s)"),
    # ... that waits for something that never comes
    ("sleep 30", Verdict.HANG, "the made-up program did not end within 3 s"),
    # ... or that prints without end, into a pipe the harness would hold
    ("yes", Verdict.FAIL, "the made-up program printed more than 1 MiB"),
], ids=["busy", "waiting", "printing"])
def test_a_program_past_a_limit_is_stopped_with_its_verdict(program, verdict, summary):
    started = time.monotonic()
    with pytest.raises(KernelFailure) as caught:
        run_program_within_limits([*STEP_TIMEOUT.split(), "sh", "-c", program], "the made-up program",
                                  replace(BUSY, wall_seconds=SHORT.wall_seconds))
    assert (caught.value.verdict, caught.value.summary) == (verdict, summary)
    assert time.monotonic() - started < 15, "the program was not stopped at its limit"


def test_a_program_that_writes_too_much_in_all_is_stopped(tmp_path):
    # make-iso.sh, writing its ISO into the folder the test gives it.
    started = time.monotonic()
    with pytest.raises(KernelFailure) as caught:
        run_program_within_limits(["sh", "-c", writing_slowly(str(tmp_path))], "the made-up program", SMALL,
                                  writes_into=[tmp_path])
    assert caught.value.verdict is Verdict.FAIL, caught.value
    written_past_the_disk_space(caught.value.summary, "the made-up program wrote ", tmp_path)
    assert time.monotonic() - started < 5, "the program was not stopped at its limit"
