"""make grade (tools/grade.py): points from the tests, for a checkout left as it was.

The slow tests run grade.py as an instructor would, on a copy of this
repository in a temporary directory (never on this repository itself),
and grade only the chapters they need: a grading run builds every chapter
it grades from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import grade
from chapters import REPOSITORY, all_chapters

GRADE = Path(grade.__file__)
VGA_CPP = Path("chapters/03-vga-text/vga.cpp")
# The writer starts a new row when the current one is full ...
WRAP_AT_THE_EDGE = "if (column_ == kColumns) {"
# ... and, broken, one column before.
WRAP_ONE_COLUMN_EARLY = "if (column_ == kColumns - 1) {"

POINTS = """
[chapters.01-freestanding]
points = 10

[chapters.03]
points = 20
[chapters.03.tests]
"test_long_line_wraps_at_column_80" = 5
"test_no_such_test[*]" = 1
"""


def copy_of_this_repository(destination: Path) -> Path:
    grade.copy_checkout(REPOSITORY, destination)
    return destination


def contents(tree: Path) -> dict[str, str]:
    """Every file of a tree with a hash of its bytes."""
    return {str(path.relative_to(tree)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(tree.rglob("*")) if path.is_file()}


def run_grade(tmp_path: Path, repository: Path, *arguments: str, points_file: str = POINTS,
              environment: dict[str, str] | None = None) -> tuple[str, dict]:
    points = tmp_path / "points.toml"
    points.write_text(points_file)
    report = tmp_path / "grade.json"
    result = subprocess.run([sys.executable, str(GRADE), "--repo", str(repository), "--points", str(points),
                             "--json", str(report), *arguments], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, f"grade.py failed:\n{result.stdout}"
    return result.stdout, json.loads(report.read_text())


@pytest.mark.slow
def test_a_broken_chapter_loses_its_points_and_the_others_keep_theirs(tmp_path):
    student = copy_of_this_repository(tmp_path / "student")
    vga = student / VGA_CPP
    source = vga.read_text()
    assert source.count(WRAP_AT_THE_EDGE) == 1, f"{VGA_CPP} changed: find another way to break it"
    vga.write_text(source.replace(WRAP_AT_THE_EDGE, WRAP_ONE_COLUMN_EARLY))
    before = contents(student)

    # The chapter that keeps its points is the one whose tests are the
    # fewest and quickest: its grading is a build and a pytest of their own.
    table, report = run_grade(tmp_path, student, "--chapters", "1,03")

    chapters = {chapter["chapter"]: chapter for chapter in report["chapters"]}
    assert list(chapters) == ["01-freestanding", "03"]
    kept, broken = chapters["01-freestanding"], chapters["03"]
    # Points shared by several tests need not add up to exactly 10.0 in floats.
    assert kept["earned"] == pytest.approx(kept["possible"]) and kept["possible"] == 10, table
    assert 0 < broken["earned"] < broken["possible"] == 20, table
    tests = {test["name"]: test for test in broken["tests"]}
    wrap = tests["test_long_line_wraps_at_column_80"]
    assert (wrap["passed"], wrap["earned"], wrap["possible"]) == (False, 0, 5), table
    assert wrap["message"], "a failed test's report must say what went wrong"
    assert "1 points for test_no_such_test[*]: there are none" in broken["notes"]
    # The tests no pattern matches share the other 14 points.
    assert sum(t["possible"] for name, t in tests.items() if name != wrap["name"]) == pytest.approx(14)
    assert report["earned"] == pytest.approx(kept["earned"] + broken["earned"])
    total = re.search(r"^total +([\d.]+) / +([\d.]+)$", table, re.MULTILINE)
    assert total and [total[1], total[2]] == [f"{report['earned']:.2f}", f"{report['possible']:.2f}"], table

    assert contents(student) == before, "grading changed the checkout it graded"


CHAPTER_4 = Path("chapters/04-testing")
FORMAT_ZERO = "KERNEL_TEST(format_zero) {"
# Chapter 4 alone, by its in-kernel tests' module: quicker than all of it.
IN_KERNEL_POINTS = ('[chapters.04]\npoints = 20\nmodules = ["test_04_testing.py"]\n'
                    '[chapters.04.tests]\n"test_in_kernel[*]" = 10\n')


@pytest.mark.slow
def test_in_kernel_tests_are_the_instructors_whatever_the_checkout_drops_adds_or_empties(tmp_path):
    """One grading of chapter 4 (a minute of boots) for three ways round
    the in-kernel tests, each judged on its own tests."""
    student = copy_of_this_repository(tmp_path / "student")
    # The in-kernel tests are collected from the student's own kernels. A
    # student whose format_zero failed could drop it, and the others would
    # share its points; or add trivial tests, so that those that fail weigh
    # less. The instructors' files of tests replace the student's, so the
    # student links a file of their own instead, with format_zero renamed.
    format_tests = (student / CHAPTER_4 / "tests/format_tests.cpp").read_text()
    assert format_tests.count(FORMAT_ZERO) == 1, "format_tests.cpp changed: find another test to rename"
    (student / CHAPTER_4 / "tests/my_format_tests.cpp").write_text(
        format_tests.replace(FORMAT_ZERO, "KERNEL_TEST(format_zero_renamed) {"))
    makefile = student / CHAPTER_4 / "Makefile"
    assert makefile.read_text().count("tests/format_tests.cpp") == 1, "find unit_tests' sources in the Makefile"
    makefile.write_text(makefile.read_text().replace("tests/format_tests.cpp", "tests/my_format_tests.cpp"))
    # Chapter 4's VGA writer wrapping a column early fails its two tests of
    # wrapping, and no other test of the chapter: with both emptied, the
    # chapter earned all its points.
    vga = student / CHAPTER_4 / "vga.cpp"
    assert vga.read_text().count(WRAP_AT_THE_EDGE) == 1, "chapter 4's vga.cpp changed: find another way to break it"
    vga.write_text(vga.read_text().replace(WRAP_AT_THE_EDGE, WRAP_ONE_COLUMN_EARLY))
    vga_tests = student / CHAPTER_4 / "tests/vga_tests.cpp"
    wrapping = ["vga_long_line_wraps", "vga_character_past_the_last_column_wraps"]
    source = vga_tests.read_text()
    for name in wrapping:
        opening = f"KERNEL_TEST_ON_SCREEN({name}) {{\n"
        assert source.count(opening) == 1, f"vga_tests.cpp changed: find {name} another way"
        source = source.replace(opening, opening + "    return;\n")
    vga_tests.write_text(source)
    table, report = run_grade(tmp_path, student, "--chapters", "04", points_file=IN_KERNEL_POINTS)

    [chapter] = report["chapters"]
    tests = {test["name"]: test for test in chapter["tests"]}
    deleted = tests.get("test_in_kernel[unit_tests-format_zero]")
    added = tests["test_in_kernel[unit_tests-format_zero_renamed]"]
    assert deleted and not deleted["passed"] and deleted["possible"] > 0, \
        f"an in-kernel test of the instructors' kernel that the checkout lacks did not count as failed:\n{table}"
    assert deleted["message"] == grade.MISSING, table
    assert added["passed"] and added["possible"] == 0, \
        f"an in-kernel test the instructors' kernel lacks earned points:\n{table}"
    assert "1 of the instructors' tests are not in the checkout's run and count as failed" in chapter["notes"], table
    in_kernel = [test for name, test in tests.items() if name.startswith("test_in_kernel[") and test is not added]
    assert sum(test["possible"] for test in in_kernel) == pytest.approx(10), table
    assert chapter["earned"] < chapter["possible"], table
    passed = [name for name in wrapping if tests[f"test_in_kernel[unit_tests-{name}]"]["passed"]]
    assert not passed, f"{passed} passed, emptied in the checkout, with a writer that wraps early:\n{table}"


def test_tests_that_a_run_cut_short_did_not_run_count_as_failed(capsys):
    # pytest that stopped half way (status 2, interrupted; 3, an internal
    # error) wrote the outcomes of the tests it ran: those alone would
    # share the chapter's points.
    chapter = grade.ChapterPoints("04-testing", 10.0, {})
    problem = "pytest exited with status 2 (interrupted): !!! KeyboardInterrupt !!!"
    run = grade.ChapterRun([grade.Outcome("test_a", True, "")], problem)
    result = grade.grade_chapter(chapter, run, reference=["test_a", "test_b"])
    shares = {test.outcome.name: (test.outcome.passed, test.earned, test.possible) for test in result.tests}
    assert shares == {"test_a": (True, 5, 5), "test_b": (False, 0, 5)}
    assert result.notes == [problem, "1 of the instructors' tests are not in the checkout's run and count as failed"]
    grade.print_table([result], Path("/student"))
    summary = capsys.readouterr().out.split("\nchapter ")[1]
    assert re.search(r"^04-testing +5.00 / +10.00  ! pytest exited with status 2 \(interrupted\)$", summary,
                     re.MULTILINE), \
        f"the summary does not say that the run was cut short:\n{summary}"


def test_a_chapter_without_results_has_its_problem_for_its_only_note():
    # Not also "10 points for the tests no pattern matches: there are
    # none", as if the chapter had tests and none of them matched.
    chapter = grade.ChapterPoints("02", 10.0, {"test_boots": 4.0})
    problem = "chapters/02-minimal-kernel does not build, so no test counts: main.cpp:1:1: error: no kernel"
    result = grade.grade_chapter(chapter, grade.ChapterRun([], problem), reference=["test_boots", "test_halts"])
    assert (result.notes, result.earned) == ([problem], 0)


def test_instructors_tests_that_cannot_be_read_stop_the_grading():
    # Without them, every test of the checkout would be graded as one the
    # instructors lack, and earn nothing.
    chapter = grade.ChapterPoints("09-no-such-chapter", 10.0, {})
    with pytest.raises(grade.ReferenceFailure, match="cannot say which tests grade chapter 09-no-such-chapter: "
                                                     "no chapter '09'"):
        grade.reference_tests(chapter, [grade.HARNESS / "test_01_freestanding.py"])


def made_up_checkout(root: Path, makefiles: dict[str, str]) -> Path:
    """A checkout of chapters that are a Makefile each: enough to grade
    their builds, without the seconds of a real one."""
    for chapter, makefile in makefiles.items():
        (root / "chapters" / chapter).mkdir(parents=True)
        (root / "chapters" / chapter / "Makefile").write_text(makefile)
    return root


def seconds_spent_grading(table: str) -> dict[str, float]:
    """Each chapter's time, as grade.py reports it."""
    return {chapter: float(seconds)
            for chapter, seconds in re.findall(r"^grading (\S+) \.\.\. ([\d.]+) s$", table, re.MULTILINE)}


def test_a_chapter_over_its_time_limit_is_stopped_and_earns_nothing(tmp_path):
    # A build that waits: the chapter's time limit, far below the build's
    # own, stops it.
    student = made_up_checkout(tmp_path / "student", {"03-vga-text": "kernel.elf:\n\tsleep 30\n"})
    table, report = run_grade(tmp_path, student, "--chapters", "03", "--chapter-timeout", "1")
    [chapter] = report["chapters"]
    assert chapter["earned"] == 0, table
    assert chapter["problem"] == "stopped after 1 s, the chapter's time limit", \
        f"the chapter's time limit is not named as what stopped it:\n{table}"
    assert seconds_spent_grading(table)["03"] < 5, f"the chapter ran past its time limit:\n{table}"


def test_a_chapter_that_does_not_build_earns_nothing(tmp_path):
    # Chapter 3's host-side checks of format.cpp compile it alone, and
    # would pass without a kernel.
    student = copy_of_this_repository(tmp_path / "student")
    vga = student / VGA_CPP
    vga.write_text(vga.read_text() + "\nthis is no C++\n")
    table, report = run_grade(tmp_path, student, "--chapters", "03")
    [chapter] = report["chapters"]
    assert chapter["earned"] == 0, f"a chapter whose kernels do not build earned points:\n{table}"
    assert chapter["notes"][0].startswith("chapters/03-vga-text does not build, so no test counts: "), table
    assert "vga.cpp" in chapter["notes"][0], f"the note does not quote the compiler's first error:\n{table}"


BUILD_POINTS = "[chapters.01]\npoints = 10\n[chapters.02]\npoints = 10\n"


def test_a_build_past_a_limit_costs_its_chapter_and_grading_goes_on(tmp_path):
    student = made_up_checkout(tmp_path / "student", {
        # The kernel that an `alignas(1 << 28)` global makes the linker
        # write, 256 MiB (truncate sets its size as ld.lld does first), by
        # its absolute path below build/ as common/kernel.mk names it.
        "01-freestanding": "$(abspath ../../build)/01-freestanding/kernel.elf:\n"
                           "\tmkdir -p $(@D) && truncate --size=256M $@\n",
        # A step that asks for 3 GiB of memory (dd's buffer, untouched).
        "02-minimal-kernel": "kernel.elf:\n\tdd if=/dev/zero of=/dev/null bs=3G count=1 iflag=count_bytes\n",
    })
    table, report = run_grade(tmp_path, student, "--chapters", "01,02", points_file=BUILD_POINTS)
    chapters = {chapter["chapter"]: chapter for chapter in report["chapters"]}
    assert [chapter["earned"] for chapter in chapters.values()] == [0, 0], table
    assert chapters["01"]["problem"] == ("chapters/01-freestanding does not build, so no test counts: "
                                         "the build was stopped: making build/01-freestanding/kernel.elf wrote a file "
                                         "larger than 64 MiB")
    assert chapters["02"]["problem"] == (
        "chapters/02-minimal-kernel does not build, so no test counts: the build was stopped: making kernel.elf "
        "needed more than 2048 MiB of memory ('dd: memory exhausted by input buffer of size 3221225472 bytes "
        "(3.0 GiB)')")
    took = seconds_spent_grading(table)
    assert took.keys() == {"01", "02"} and max(took.values()) < 10, table


def test_grading_boots_the_instructors_machine_whatever_the_checkout_says(tmp_path):
    student = made_up_checkout(tmp_path / "student", {
        "01-freestanding": "kernel.elf:\n\t@echo 'main.cpp:1:1: error: no kernel yet' && false\n"})
    shutil.copytree(REPOSITORY / "common/host", student / "common/host")
    # A machine of the student's choosing: one that reboots at a triple
    # fault (the kernel runs again and may pass then), with no exit device
    # (a test kernel that should exit halts), with a device of its own.
    args = student / "common/host/qemu-machine.args"
    machine = args.read_text()
    for option in ("-no-reboot\n", "-device isa-debug-exit,iobase=0xf4,iosize=0x04\n"):
        assert machine.count(option) == 1, f"{args.name} changed: find {option.strip()} another way"
        machine = machine.replace(option, "")
    args.write_text(machine + "-device e1000\n")
    (student / "common/host/qemu-uefi.args").unlink()

    table, report = run_grade(tmp_path, student, "--chapters", "01", "--keep", points_file=BUILD_POINTS)
    kept = re.search(r"^the graded copy and pytest's output are kept in (\S+)$", table, re.MULTILINE)
    assert kept, table
    graded = Path(kept[1]) / "checkout"
    try:
        [chapter] = report["chapters"]
        assert ("graded on the instructors' common/host/ (the machine every boot gets, the tools the harness "
                "requires), not the checkout's, which differs in qemu-machine.args, qemu-uefi.args"
                ) in chapter["notes"], f"the table does not say whose machine graded the chapter:\n{table}"
        assert contents(graded / "common/host") == contents(REPOSITORY / "common/host"), \
            "the graded copy's common/host/ is not the instructors'"
        # What the harness of the graded copy boots.
        machine_of = [sys.executable, "-c", "import host; print(host.MACHINE_ARGS, host.UEFI_ARGS)"]
        graded_machine = subprocess.run(machine_of, cwd=graded / "harness", capture_output=True, text=True)
        instructors_machine = subprocess.run(machine_of, cwd=REPOSITORY / "harness", capture_output=True, text=True)
        assert graded_machine.stdout == instructors_machine.stdout != "", graded_machine.stderr
    finally:
        shutil.rmtree(kept[1])


def test_a_machine_linked_elsewhere_in_the_checkout_is_replaced_not_written_through(tmp_path):
    # common/host a link to a directory of the student's, with the
    # instructors' files but one in it: the copy's link goes, and the
    # directory it led to stays the student's.
    checkout = tmp_path / "checkout"
    theirs = checkout / "my-machine"
    shutil.copytree(REPOSITORY / "common/host", theirs)
    (theirs / "qemu-machine.args").write_text("-accel kvm\n")
    (checkout / "common").mkdir()
    (checkout / "common/host").symlink_to("../my-machine")
    before = contents(theirs)
    replaced = grade.use_instructors_machine(checkout)
    assert replaced == ["qemu-machine.args"]
    assert not (checkout / "common/host").is_symlink()
    assert contents(checkout / "common/host") == contents(REPOSITORY / "common/host")
    assert contents(theirs) == before, "the instructors' machine was written into the student's directory"


def test_a_common_that_is_no_directory_gets_the_instructors_machine(tmp_path):
    # The checkout's build fails without common/; grading goes on.
    (tmp_path / "common").write_text("not a directory\n")
    assert grade.use_instructors_machine(tmp_path) == sorted(contents(REPOSITORY / "common/host"))
    assert contents(tmp_path / "common/host") == contents(REPOSITORY / "common/host")


def test_a_file_linked_to_one_outside_the_checkout_is_left_out(tmp_path):
    # A symbolic link is copied as one: a chapter whose main.cpp is a link
    # to the instructors' own would be graded as the student's work.
    student = copy_of_this_repository(tmp_path / "student")
    main_cpp = student / "chapters/01-freestanding/main.cpp"
    main_cpp.unlink()
    main_cpp.symlink_to(REPOSITORY / "chapters/01-freestanding/main.cpp")
    table, report = run_grade(tmp_path, student, "--chapters", "01")
    [chapter] = report["chapters"]
    assert chapter["earned"] == 0, f"a chapter graded with a file from outside the checkout earned points:\n{table}"
    assert chapter["notes"][0] == ("left out of the graded copy, a symbolic link out of the checkout: "
                                   f"chapters/01-freestanding/main.cpp -> {REPOSITORY}/chapters/01-freestanding/main.cpp")


@pytest.mark.slow
def test_an_instructors_kernel_workspace_is_not_what_is_graded(tmp_path):
    # KERNEL_WORKSPACE=DIR, which tests a workspace of the book's steps,
    # left set in the instructor's shell: every test would boot DIR's
    # chapters, whatever the checkout holds. Here the workspace's chapter 1
    # is right and the checkout's is broken.
    workspace = tmp_path / "workspace"
    shutil.copytree(REPOSITORY / "chapters/01-freestanding", workspace / "chapters/01-freestanding")
    (workspace / "common").symlink_to(REPOSITORY / "common")  # as make workspace links it
    student = copy_of_this_repository(tmp_path / "student")
    main_cpp = student / "chapters/01-freestanding/main.cpp"
    main_cpp.write_text(main_cpp.read_text().replace(SIEVE_FROM_TWO, SIEVE_FROM_TWO.replace("n = 2", "n = 3")))
    table, report = run_grade(tmp_path, student, "--chapters", "01",
                              environment={**os.environ, "KERNEL_WORKSPACE": str(workspace)})
    [chapter] = report["chapters"]
    tests = {test["name"]: test for test in chapter["tests"]}
    assert not tests["test_kernel_boots_runs_its_cpp_and_halts"]["passed"], \
        f"grading with KERNEL_WORKSPACE set graded the workspace's chapter, not the checkout's:\n{table}"


def test_a_pytest_py_in_the_checkout_does_not_run_in_place_of_pytest(tmp_path):
    # One that writes a JUnit report of passes of its own.
    checkout = tmp_path / "checkout"
    (checkout / "harness").mkdir(parents=True)
    (checkout / "pytest.py").write_text(
        "import sys\n"
        "junit = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('--junitxml='))\n"
        "open(junit, 'w').write('<testsuites><testsuite><testcase classname=\"t\" name=\"test_x\"/>'\n"
        "                       '</testsuite></testsuites>')\n")
    results = tmp_path / "results"
    results.mkdir()
    run = grade.run_chapter(checkout, "02", [grade.HARNESS / "test_02_minimal_kernel.py"], results, 60)
    assert not any(outcome.passed for outcome in run.outcomes), \
        "the checkout's own pytest.py ran in place of pytest, and its made-up results were graded"


SIEVE_FROM_TWO = "for (uint32_t n = 2; n < limit; ++n) {"
PASS_EVERYTHING = """import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    report.outcome, report.longrepr = "passed", None
"""


@pytest.mark.slow
def test_a_conftest_py_in_the_checkout_does_not_change_the_outcomes(tmp_path):
    # pytest reads conftest.py files no higher than its ini file's
    # directory (harness/): one in the checkout's root that turns every
    # failure into a pass must not be among them.
    student = copy_of_this_repository(tmp_path / "student")
    main_cpp = student / "chapters/01-freestanding/main.cpp"
    source = main_cpp.read_text()
    assert source.count(SIEVE_FROM_TWO) == 1, "chapter 1's main.cpp changed: find another way to break it"
    main_cpp.write_text(source.replace(SIEVE_FROM_TWO, SIEVE_FROM_TWO.replace("n = 2", "n = 3")))
    (student / "conftest.py").write_text(PASS_EVERYTHING)
    table, report = run_grade(tmp_path, student, "--chapters", "01")
    [chapter] = report["chapters"]
    tests = {test["name"]: test for test in chapter["tests"]}
    assert not tests["test_kernel_boots_runs_its_cpp_and_halts"]["passed"], \
        f"a kernel that counts 1898 primes below 10000 passed, with the checkout's conftest.py:\n{table}"


def test_points_are_shared_within_the_first_pattern_that_matches():
    chapter = grade.ChapterPoints("04-testing", 10.0, {"test_in_kernel[*]": 6.0, "test_in_*": 3.0})
    outcomes = [grade.Outcome("test_in_kernel[a]", True, ""),
                grade.Outcome("test_in_kernel[b]", False, "FAIL: b"),
                grade.Outcome("test_in_kernelX", True, ""),  # [ is no character class
                grade.Outcome("test_other", True, "")]
    result = grade.grade_chapter(chapter, grade.ChapterRun(outcomes, ""))
    shares = {test.outcome.name: (test.earned, test.possible) for test in result.tests}
    assert shares == {"test_in_kernel[a]": (3, 3), "test_in_kernel[b]": (0, 3),
                      "test_in_kernelX": (3, 3), "test_other": (1, 1)}
    assert (result.earned, result.possible) == (7, 10)


def test_in_kernel_results_count_only_from_a_runner_that_reports_failures():
    # A chapter 4 whose test runner printed "ok" whatever happened, and
    # whose VGA writer wrapped a column early, earned 17.78 of its 20
    # points: every in-kernel test "passed". failing_tests' items show the
    # runner lying, and the in-kernel results then earn nothing.
    [chapter] = [chapter for chapter in grade.load_points(grade.DEFAULT_POINTS) if chapter.number == "04"]
    lying = grade.Outcome("test_in_kernel[failing_tests-fails_expect_true]", False, "Failed: must fail, but passed")
    ordinary_failure = grade.Outcome("test_a_failure_in_an_ordinary_test_is_reported_as_one[04-testing]", True, "")
    outcomes = [lying, ordinary_failure,
                grade.Outcome("test_in_kernel[failing_tests-passes_after_failed_tests]", True, ""),
                grade.Outcome("test_in_kernel[unit_tests-vga_long_line_wraps]", True, ""),
                grade.Outcome("test_command_line_selects_tests", True, "")]

    def earning(outcomes: list[grade.Outcome]) -> dict[str, bool]:
        return {test.outcome.name: test.earned > 0
                for test in grade.grade_chapter(chapter, grade.ChapterRun(outcomes, "")).tests}

    assert not earning(outcomes)["test_in_kernel[unit_tests-vga_long_line_wraps]"], \
        "an in-kernel ok earned points from a test runner that reports failing_tests' failures as passes"
    assert earning(outcomes)["test_in_kernel[failing_tests-passes_after_failed_tests]"], \
        "a test of the runner itself lost its points to the runner's other failures"
    [held_back] = [t for t in grade.with_requirements(chapter, outcomes) if t.name.endswith("vga_long_line_wraps]")]
    assert held_back.message == ("passed, but counts only when test_in_kernel[failing_tests-*], "
                                 "test_a_*_in_an_ordinary_test_is_reported_as_one[*] pass, "
                                 f"and {lying.name} failed")
    honest = [outcome for outcome in outcomes if outcome is not lying]
    assert all(earning(honest).values()), "with the runner shown honest, each in-kernel test counts on its own"
    # Each pattern of a requirement must match a test: the ordinary test's
    # failure, passed, does not stand for failing_tests' when those are
    # missing (a run without the instructors' list of tests), nor they for it.
    for left_out in ("failing_tests", "ordinary_test"):
        without_evidence = [o for o in honest if left_out not in o.name]
        [held_back] = [t for t in grade.with_requirements(chapter, without_evidence)
                       if t.name.endswith("vga_long_line_wraps]")]
        assert not held_back.passed and "there is no" in held_back.message, (
            f"in-kernel results counted from a run without the tests of {left_out} that show its runner honest "
            f"({held_back.message or 'passed'})")
    # A runner honest on the tests written to fail, and only there (one
    # that spares tests not named fails_*), earned 20 of 20 with a broken
    # VGA writer: the failure or the panic the harness makes in an ordinary
    # test shows it.
    honest_only_on_failing_tests = [o for o in honest if o is not ordinary_failure] + [
        grade.Outcome(ordinary_failure.name, False, "Failed: ... its runner reported 'ok 14 format_zero'")]
    assert not earning(honest_only_on_failing_tests)["test_in_kernel[unit_tests-vga_long_line_wraps]"], \
        "an in-kernel ok earned points from a runner that reported a failure in an ordinary test as a pass"
    ordinary_panic = grade.Outcome("test_a_panic_in_an_ordinary_test_is_reported_as_one[04-testing]", False,
                                   "Failed: selection_option_must_start_a_word was reported ok, but it panicked")
    assert not earning(honest + [ordinary_panic])["test_in_kernel[unit_tests-vga_long_line_wraps]"], \
        "an in-kernel ok earned points from a runner that reported a panic in an ordinary test as a pass"


def test_a_requirement_is_a_list_of_patterns(tmp_path):
    # A string in its place would be read as a list of its characters.
    points = tmp_path / "points.toml"
    points.write_text('[chapters.04]\npoints = 10\n[chapters.04.requires]\n'
                      '"test_in_kernel[*]" = "test_in_kernel[failing_tests-*]"\n')
    with pytest.raises(grade.PointsFileError, match="chapter 04: requires must map patterns to lists of patterns"):
        grade.load_points(points)


def test_a_long_reason_is_wrapped_between_words():
    path = "build/test-artifacts/test_04_testing.py-test_in_kernel-unit_tests-vga_scroll/boot-1-unit_tests"
    message = ("HANG: timed out after 10 s of QEMU CPU time waiting for serial output matching /^1..N$/; "
               f"last serial line: 'Booting the kernel with a rather long line of its own'; kept in {path}")
    lines = grade.wrap_message(message)
    assert all(len(line) <= grade.MESSAGE_WIDTH for line in lines if " " in line)
    words = message.split()
    assert [word for line in lines for word in line.split()] == words, "a word was cut or lost"
    assert lines[-1] == path, "a word longer than the rest of a line goes whole on the next"


def test_several_modules_grade_one_chapter(tmp_path):
    points = tmp_path / "points.toml"
    points.write_text('[chapters.04]\npoints = 10\nmodules = ["test_04_testing.py", "test_toolchains.py"]\n'
                      '[chapters.03]\npoints = 5\n')
    by_modules, by_number = grade.load_points(points)[1], grade.load_points(points)[0]
    assert [m.name for m in grade.modules_of(by_modules)] == ["test_04_testing.py", "test_toolchains.py"]
    assert [m.name for m in grade.modules_of(by_number)] == ["test_03_vga_text.py"]
    points.write_text('[chapters.04]\npoints = 10\nmodules = ["test_no_such_module.py"]\n')
    with pytest.raises(grade.PointsFileError, match="no test module harness/test_no_such_module.py"):
        grade.modules_of(grade.load_points(points)[0])

    junit = tmp_path / "results.xml"
    junit.write_text('<testsuites><testsuite>'
                     '<testcase classname="test_04_testing" name="test_x"/>'
                     '<testcase classname="test_toolchains" name="test_x@group"><failure message="FAIL: no"/></testcase>'
                     '</testsuite></testsuites>')
    outcomes = grade.read_junit(junit, qualified=True)
    assert outcomes == [grade.Outcome("test_04_testing::test_x", True, ""),
                        grade.Outcome("test_toolchains::test_x", False, "FAIL: no")]
    # A pattern without a module matches in every module; one with a module, there only.
    chapter = grade.ChapterPoints("04", 10.0, {"test_toolchains::test_x": 4.0, "test_x": 6.0})
    shares = {test.outcome.name: test.possible
              for test in grade.grade_chapter(chapter, grade.ChapterRun(outcomes, "")).tests}
    assert shares == {"test_toolchains::test_x": 4.0, "test_04_testing::test_x": 6.0}


@pytest.mark.slow
def test_every_pattern_of_the_points_file_matches_a_test():
    # A pattern that matches nothing is only a note where it has points: a
    # harness-only test renamed would earn points again unnoticed.
    for chapter in grade.load_points(grade.DEFAULT_POINTS):
        names = grade.reference_tests(chapter, grade.modules_of(chapter))
        patterns = [*chapter.patterns, *chapter.requires, *(p for needed in chapter.requires.values() for p in needed)]
        unmatched = [pattern for pattern in patterns if not any(grade.matches(pattern, name) for name in names)]
        assert not unmatched, f"{grade.DEFAULT_POINTS.name}: chapter {chapter.name}'s {unmatched} match no test"


def test_the_points_file_grades_every_chapter_with_modules_that_exist():
    chapters = grade.load_points(grade.DEFAULT_POINTS)
    assert [chapter.number for chapter in chapters] == [name[:2] for name in all_chapters()]
    for chapter in chapters:
        assert grade.modules_of(chapter), chapter.name
