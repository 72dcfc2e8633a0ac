"""How fast the project builds and tests, measured in one run (`make bench`).

Figures, each beside the target of the issue that asked for them:

- the floor: a bare GRUB-ISO boot of a kernel that exits at once through
  isa-debug-exit, QEMU alone, no harness;
- the cost of QEMU's interrupt log (-d int), which every test boot has;
- each chapter's boot-to-verdict time through the harness, and its ratio to
  the floor (target <= 1.2);
- a clean build of every chapter, into a temporary BUILD_ROOT so that
  build/ stays as it is;
- an incremental rebuild after one source of the last chapter changed
  (target <= 1 s);
- the whole `make test` (target, with the clean build: <= 30 s on 2 cores).

Timings vary with the load of the machine: each boot figure is the median of
several runs.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import Builder  # noqa: E402
from chapters import REPOSITORY, all_chapters  # noqa: E402
from machine import MACHINE_ARGS, QEMU, Machine  # noqa: E402
from verdict import KernelFailure  # noqa: E402

RUNS = 5
RATIO_TARGET = 1.2
INCREMENTAL_TARGET = 1.0
BUILD_AND_TEST_TARGET = 30.0


def median_seconds(action, runs: int = RUNS) -> float:
    timings = []
    for _ in range(runs):
        start = time.monotonic()
        action()
        timings.append(time.monotonic() - start)
    return statistics.median(timings)


def bare_boot(iso: Path, extra: list[str]) -> None:
    """QEMU alone, as a shell would start it: the least any boot can take."""
    result = subprocess.run([QEMU, *MACHINE_ARGS, "-serial", "null", "-cdrom", str(iso), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    if result.returncode != 33:
        raise SystemExit(f"the floor kernel did not exit with success (status {result.returncode})")


def harness_boot(iso: Path) -> None:
    """Boot to verdict through the harness: start, wait until the kernel
    exits or halts for good, stop."""
    with Machine(iso, timeout=30) as machine:
        machine.wait_until_done()


def run(command: list[str], **options) -> float:
    start = time.monotonic()
    subprocess.run(command, cwd=REPOSITORY, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                   **options)
    return time.monotonic() - start


def line(what: str, seconds: float, target: str = "") -> None:
    print(f"  {what:<54} {seconds:7.2f} s   {target}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    builder = Builder()
    fixtures = builder.fixtures()
    floor_iso = fixtures / "exit_success.iso"
    jobs = os.cpu_count() or 1
    print(f"Benchmark on {jobs} CPUs; boot figures are the median of {RUNS} runs.\n")

    print("Boot")
    floor = median_seconds(lambda: bare_boot(floor_iso, []))
    line("floor: bare GRUB boot to isa-debug-exit", floor)
    with tempfile.TemporaryDirectory() as scratch:
        logged = median_seconds(lambda: bare_boot(floor_iso, ["-d", "int,cpu_reset", "-D", f"{scratch}/q.log"]))
    line("floor with -d int,cpu_reset (every test boot has it)", logged,
         f"cost {logged - floor:+.2f} s ({(logged / floor - 1) * 100:+.0f}%)")
    through_harness = median_seconds(lambda: harness_boot(floor_iso))
    line("floor through the harness (Machine)", through_harness, f"ratio {through_harness / floor:.2f}")
    for chapter in all_chapters():
        try:
            iso = builder.chapter(chapter).iso()
            seconds = median_seconds(lambda: harness_boot(iso))
        except KernelFailure as failure:
            print(f"  {chapter}: {failure.verdict.name}: {failure.summary}")
            continue
        ratio = seconds / floor
        line(f"{chapter} boot to verdict", seconds,
             f"ratio {ratio:.2f}  (target <= {RATIO_TARGET}: {verdict(ratio <= RATIO_TARGET)})")

    print("\nBuild")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as build_root:
        clean = run(["make", f"-j{jobs}", f"BUILD_ROOT={build_root}"])
        line(f"clean build of every chapter (make -j{jobs})", clean)
        last = all_chapters()[-1]
        incremental = incremental_rebuild(last, Path(build_root))
        line(f"incremental: one source of {last} changed", incremental,
             f"(target <= {INCREMENTAL_TARGET:g} s: {verdict(incremental <= INCREMENTAL_TARGET)})")

    print("\nTest")
    start = time.monotonic()
    result = subprocess.run(["make", "test"], cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    full_test = time.monotonic() - start
    summaries = re.findall(r"^=+ (.*\d+ (?:passed|failed).*) =+$", result.stdout, re.MULTILINE)
    line("make test", full_test, summaries[-1] if summaries else f"no pytest summary (exit {result.returncode})")
    line("clean build + make test", clean + full_test,
         f"(target <= {BUILD_AND_TEST_TARGET:g} s: {verdict(clean + full_test <= BUILD_AND_TEST_TARGET)})")


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
    main()
