"""How fast the project builds and tests, measured in one run (`make bench`).

Figures, each beside the target of the issue that asked for them:

- the floor: a bare GRUB-ISO boot of a kernel that exits at once through
  isa-debug-exit, QEMU alone, no harness;
- the cost of QEMU's interrupt log (-d int), which every test boot has;
- each chapter's boot-to-verdict time through the harness, and its ratio to
  the floor (target <= 1.2); from chapter 4 on the same for each test kernel
  that passes (those that fail or hang on purpose are named and left out);
- the same under UEFI (OVMF) for the floor and each chapter's kernel, with
  fewer runs: a UEFI boot takes ten times as long;
- a clean build of every chapter, into a temporary BUILD_ROOT so that
  build/ stays as it is;
- an incremental rebuild after one source of the last chapter changed
  (target <= 1 s);
- a student's loop: `pytest harness --chapter NN` for chapters 02 and 03,
  exactly as typed (in parallel, pytest.ini), first in a fresh clone, where
  it builds that chapter alone, then again after one source of it changed,
  as in the loop of edit and test; each the median of three clones
  (target <= 10 s for each);
- the whole `make test` in a fresh clone, as CI runs it: both builds (the
  normal one and the UBSan one) from nothing, then both pytest runs
  (target <= 90 s on 2 cores); the pytest runs' own times show the tests'
  part.

Wall-clock timings vary with the load of the machine: each boot figure is
the median of several runs, taken in turns, and shown beside QEMU's CPU
time, which hardly varies with the load.

`bench.py ROW...` measures only the floor and the boots whose rows name one
of ROW (`exception_tests`, `05 unit_tests`, `03`), and stops there: a
change to one kernel judged in a minute, against a floor of the same run.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

# The harness's modules, one folder up, import each other by plain name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from build import Builder  # noqa: E402
from chapters import REPOSITORY, all_chapters, chapter_directory  # noqa: E402
from host import QEMU, UEFI_ARGS  # noqa: E402
from machine import MACHINE_ARGS, Machine  # noqa: E402
from terminal import make_environment  # noqa: E402
from verdict import KernelFailure  # noqa: E402

RUNS = 7
UEFI_RUNS = 3
RATIO_TARGET = 1.2
INCREMENTAL_TARGET = 1.0
STUDENT_LOOP_TARGET = 10.0
STUDENT_LOOP_CHAPTERS = ["02", "03"]
LOOP_RUNS = 3  # fresh clones per chapter: a single run varied by a second
BUILD_AND_TEST_TARGET = 90.0


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(boots: dict[str, Callable[[], None]], runs: int = RUNS) -> dict[str, tuple[float, float]]:
    """Median wall-clock and QEMU CPU seconds of each boot. The boots take
    turns, so that a change in the machine's load affects all alike; the CPU
    time (of the child processes, QEMU) hardly depends on the load at all."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in boots}
    for _ in range(runs):
        for name, boot in boots.items():
            wall, cpu = time.monotonic(), children_cpu_seconds()
            boot()
            samples[name].append((time.monotonic() - wall, children_cpu_seconds() - cpu))
    return {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in samples.items()}


def bare_boot(iso: Path, extra: list[str]) -> None:
    """QEMU alone, as a shell would start it: the least any boot can take."""
    result = subprocess.run([QEMU, *MACHINE_ARGS, "-serial", "null", "-cdrom", str(iso), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    if result.returncode != 33:
        raise SystemExit(f"the floor kernel did not exit with success (status {result.returncode})")


def harness_boot(iso: Path, firmware: str = "bios") -> None:
    """Boot to verdict through the harness: start, wait until the kernel
    exits or halts for good, stop."""
    with Machine(iso, timeout=30, firmware=firmware) as machine:
        machine.wait_until_done()


PROBE_TIMEOUT = 5.0  # seconds of QEMU CPU time; a passing test kernel needs under 1


def passes(iso: Path) -> bool:
    """Whether a test kernel exits with success: the others fail or hang on
    purpose, to show how the harness reports that, and have no boot time to
    measure."""
    try:
        with Machine(iso, timeout=PROBE_TIMEOUT) as machine:
            return machine.wait_for_exit() == 33
    except KernelFailure:
        return False


def run(command: list[str], **options) -> float:
    start = time.monotonic()
    subprocess.run(command, cwd=REPOSITORY, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                   **options)
    return time.monotonic() - start


def line(what: str, seconds: float, comment: str = "") -> None:
    print(f"  {what:<50} {seconds:6.2f} s  {comment}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(rows: list[str]) -> None:
    """`rows`: measure only the boots whose names hold one of these, and
    stop after them; all of everything when empty."""
    def wanted(name: str) -> bool:
        return not rows or any(row in name for row in rows)

    builder = Builder()
    floor_iso = builder.fixtures() / "exit_success.iso"
    isos = {}
    for chapter in all_chapters():
        try:
            build = builder.chapter(chapter)
        except KernelFailure as failure:
            print(f"{chapter}: {failure.verdict.name}: {failure.summary}")
            continue
        if wanted(chapter):
            isos[chapter] = build.iso()
        for test_kernel in sorted(set(build.path.glob("*.iso")) - {build.iso()}):
            name = f"{chapter} {test_kernel.stem}"
            if not wanted(name):
                continue
            if passes(test_kernel):
                isos[name] = test_kernel
            else:
                print(f"not measured: {name}, which fails or hangs on purpose")
    jobs = os.cpu_count() or 1
    print(f"\nBenchmark on {jobs} CPUs, load average {os.getloadavg()[0]:.1f}. Boots: median of {RUNS} runs, "
          "wall clock and QEMU's CPU time.\n")

    with tempfile.TemporaryDirectory() as scratch:
        boots = {
            "floor": lambda: bare_boot(floor_iso, []),
            "floor -d int": lambda: bare_boot(floor_iso, ["-d", "int,cpu_reset", "-D", f"{scratch}/qemu.log"]),
            "floor harness": lambda: harness_boot(floor_iso),
        } | {chapter: (lambda iso=iso: harness_boot(iso)) for chapter, iso in isos.items()}
        timings = measure(boots)

    floor_wall, floor_cpu = timings["floor"]
    print("Boot                                                     wall    CPU")
    print(f"  {'floor: bare GRUB boot to isa-debug-exit':<50} {floor_wall:6.2f} s {floor_cpu:5.2f} s")
    logged_wall, logged_cpu = timings["floor -d int"]
    print(f"  {'floor with -d int,cpu_reset (as every test boot)':<50} {logged_wall:6.2f} s {logged_cpu:5.2f} s"
          f"  cost {logged_wall - floor_wall:+.2f} s wall, {logged_cpu - floor_cpu:+.2f} s CPU")
    show_ratios(timings, [("floor harness", "floor through the harness")]
                + [(chapter, f"{chapter} boot to verdict") for chapter in isos], timings["floor"])
    if rows:
        return

    # Each chapter's kernel: under UEFI the demos say on serial that there
    # is no text mode, and halt.
    kernels = {chapter: iso for chapter, iso in isos.items() if " " not in chapter}
    uefi_boots = {"floor": lambda: bare_boot(floor_iso, list(UEFI_ARGS))} | {
        chapter: (lambda iso=iso: harness_boot(iso, "uefi")) for chapter, iso in kernels.items()}
    uefi_timings = measure(uefi_boots, UEFI_RUNS)
    uefi_floor_wall, uefi_floor_cpu = uefi_timings["floor"]
    print(f"\nBoot under UEFI (OVMF), median of {UEFI_RUNS} runs")
    print(f"  {'floor: bare GRUB boot to isa-debug-exit':<50} {uefi_floor_wall:6.2f} s {uefi_floor_cpu:5.2f} s"
          f"  {uefi_floor_wall / floor_wall:.1f} times the BIOS floor")
    show_ratios(uefi_timings, [(chapter, f"{chapter} boot to verdict") for chapter in kernels],
                uefi_timings["floor"])

    print("\nBuild")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as build_root:
        clean = run(["make", f"-j{jobs}", f"BUILD_ROOT={build_root}"])
        line(f"clean build of every chapter (make -j{jobs})", clean)
        last = all_chapters()[-1]
        incremental = incremental_rebuild(last, Path(build_root))
        line(f"incremental: one source of {last} changed", incremental,
             f"target <= {INCREMENTAL_TARGET:g} s: {verdict(incremental <= INCREMENTAL_TARGET)}")

    print("\nTest")
    for number in STUDENT_LOOP_CHAPTERS:
        for what, seconds, summary in student_loop(number):
            line(f"pytest harness --chapter {number}, {what}", seconds,
                 f"{summary}; target <= {STUDENT_LOOP_TARGET:g} s: {verdict(seconds <= STUDENT_LOOP_TARGET)}")
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as clone:
        subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), clone], check=True)
        start = time.monotonic()
        # As typed at a shell: not as a child of make bench's make, whose
        # job slots it could not reach.
        result = subprocess.run(["make", "test"], cwd=clone, env=make_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        seconds = time.monotonic() - start
    # Two pytest runs: the normal suite, then the UBSan one.
    line("make test, fresh clone (both builds and both runs)", seconds,
         f"{pytest_summaries(result)}; target <= {BUILD_AND_TEST_TARGET:g} s: "
         f"{verdict(seconds <= BUILD_AND_TEST_TARGET)}")
    # The clone is gone by now: what failed is shown here or nowhere.
    for failure in re.findall(r"^(?:FAILED|ERROR) .*$", result.stdout, re.MULTILINE):
        print(f"    {failure}")


def student_loop(number: str) -> list[tuple[str, float, str]]:
    """A student's runs of one chapter's tests in a fresh clone of the
    committed tree: the first, which builds the chapter, and one after an
    edit of one of its sources (dated later, so that make builds it anew).
    Each the median of LOOP_RUNS clones, with the pytest summary of the
    last."""
    steps = ("first run, fresh clone", "again after main.cpp changed")
    seconds: dict[str, list[float]] = {what: [] for what in steps}
    summaries = {}
    chapter = chapter_directory(number)
    for _ in range(LOOP_RUNS):
        with tempfile.TemporaryDirectory(prefix="bench-clone-") as clone:
            subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), clone], check=True)
            for what in steps:
                if what != steps[0]:
                    os.utime(Path(clone) / "chapters" / chapter / "main.cpp")
                start = time.monotonic()
                result = subprocess.run([sys.executable, "-m", "pytest", "harness", "--chapter", number],
                                        cwd=clone, env=make_environment(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                seconds[what].append(time.monotonic() - start)
                summaries[what] = pytest_summaries(result)
    return [(f"{what} (median of {LOOP_RUNS})", statistics.median(seconds[what]), summaries[what])
            for what in steps]


def pytest_summaries(result: subprocess.CompletedProcess) -> str:
    """The closing lines of the pytest runs in a command's output
    ("425 passed in 135.98s"), joined by +."""
    summaries = re.findall(r"^=+ (.*\d+ (?:passed|failed).*) =+$", result.stdout, re.MULTILINE)
    return " + ".join(summaries) if summaries else f"no pytest summary (exit {result.returncode})"


def show_ratios(timings: dict[str, tuple[float, float]], rows: list[tuple[str, str]],
                floor: tuple[float, float]) -> None:
    floor_wall, floor_cpu = floor
    for name, title in rows:
        wall, cpu = timings[name]
        ratio = wall / floor_wall
        print(f"  {title:<50} {wall:6.2f} s {cpu:5.2f} s  ratio {ratio:.2f} (CPU {cpu / floor_cpu:.2f})"
              f"  target <= {RATIO_TARGET}: {verdict(ratio <= RATIO_TARGET)}")


def incremental_rebuild(chapter: str, build_root: Path) -> float:
    """Makes one source look changed without touching the source tree: its
    object file is dated back, so make must compile it again, relink and
    remake the ISO, as after an edit."""
    source = REPOSITORY / "chapters" / chapter / "main.cpp"
    if not source.exists():
        source = sorted((REPOSITORY / "chapters" / chapter).glob("*.cpp"))[0]
    obj = build_root / chapter / "obj" / source.with_suffix(".o").name
    long_ago = source.stat().st_mtime - 3600
    os.utime(obj, (long_ago, long_ago))
    return run(["make", "-C", f"chapters/{chapter}", f"BUILD_ROOT={build_root}"])


if __name__ == "__main__":
    main(sys.argv[1:])
