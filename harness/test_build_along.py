"""The book's build-along path, walked as a student would walk it.

Chapters 2 to 6 of the book open with "Build it yourself": `make workspace
CH=NN` copies the previous chapter into a workspace outside the repository,
then steps list the files to add, change and remove, each step followed by
the command that checks it. This module reads those sections and, for the
chapters in WALKED, follows them in a temporary workspace: it builds the
chapter before along (its own `make workspace` and its steps' files, as a
student who built it has it), runs the section's `make workspace` command
as printed (with a temporary home for ~), applies each step by taking the
step's files from the chapter's directory, and runs each step's check as
the book prints it (with the temporary workspace for ~/kernel-workspace).
The last step's checks run every module of the chapter's tests, against
the workspace.

Every chapter's steps must name exactly the files its step changes, so
that a student who follows them ends with the chapter (the test of that
needs no build), and every name a check gives pytest's -k must be part of
the name of a test in the module it runs: a name that matches none selects
nothing, and the check passes on fewer tests than the book promises.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chapters import REPOSITORY
from terminal import make_environment
from test_book import real_changes

# A test of the book, not of a chapter's kernel: --chapter leaves it out.
pytestmark = pytest.mark.book

BOOK = REPOSITORY / "book"
REPOSITORY_CHAPTERS = REPOSITORY / "chapters"  # not chapters.CHAPTERS: that may be a workspace
SECTION = "## Build it yourself"
STEP = re.compile(r"^### Step (\d+): (.+)$")
ITEM = re.compile(r"^- (add|change|remove) `([^`]+)`: \S")
# The words of the book's steps, and of the test_book "What this step adds" list.
PAST = {"add": "added", "change": "changed", "remove": "removed"}
WORKSPACE_IN_THE_BOOK = "~/kernel-workspace"
# The chapters whose path this module walks; each walk builds and boots the
# chapter's kernels in a workspace of its own, and runs the chapter's
# modules again. Measured on this 2-core machine under a load of 5 to 7
# (2026-12), one walk on one worker: 02 and 03 25-33 s each, 05 23-40 s,
# 06 42-62 s. 05 is walked for its first step, 30 files whose test kernels
# are built before main.cpp changes: a file left to the wrong step hides
# there, as test_main.cpp once did. 04 and 06 are left out for make test's
# time; add them here to walk them once after changing their steps.
WALKED = ("02-minimal-kernel", "03-vga-text", "05-cpu-exceptions")
STEP_TIMEOUT = 900  # seconds for one check: a chapter's whole module on a loaded machine


@dataclass
class Step:
    number: int
    title: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (add|change|remove, path)
    checks: list[str] = field(default_factory=list)  # shell commands, as printed


def book_chapters() -> list[str]:
    """Every chapter but the first, which starts from nothing: the book's
    chapters 2 to 6, whether or not they have the section yet."""
    return sorted(path.name for path in REPOSITORY_CHAPTERS.iterdir()
                  if path.is_dir() and re.fullmatch(r"\d\d-.+", path.name))[1:]


def steps_of(chapter: str) -> list[Step]:
    """The steps of a chapter's "Build it yourself" section, in order: their
    file items, and the commands of the sh blocks in them."""
    lines = (BOOK / f"{chapter}.md").read_text(encoding="utf-8").splitlines()
    if SECTION not in lines:
        fail(f"book/{chapter}.md has no section \"{SECTION}\"")
    start = lines.index(SECTION)
    steps: list[Step] = []
    in_code = False
    for line in lines[start + 1:]:
        if line.startswith("## ") and not in_code:
            break
        if line.startswith("```"):
            in_code = not in_code
            continue
        heading = STEP.match(line)
        if heading:
            steps.append(Step(int(heading[1]), heading[2]))
        elif steps and in_code and line.strip():
            steps[-1].checks.append(line.strip())
        elif steps and ITEM.match(line):
            item = ITEM.match(line)
            steps[-1].files.append((item[1], item[2]))
    return steps


def workspace_commands(chapter: str) -> list[str]:
    """The commands of the sh blocks of "Build it yourself" before its
    first step: the ones that start the workspace."""
    lines = (BOOK / f"{chapter}.md").read_text(encoding="utf-8").splitlines()
    if SECTION not in lines:
        fail(f"book/{chapter}.md has no section \"{SECTION}\"")
    commands, in_code = [], False
    for line in lines[lines.index(SECTION) + 1:]:
        if STEP.match(line) or line.startswith("## "):
            break
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.strip():
            commands.append(line.strip())
    return commands


def fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("chapter", book_chapters())
def test_the_steps_add_up_to_the_chapter(chapter):
    steps = steps_of(chapter)
    if not steps:
        fail(f"book/{chapter}.md: \"{SECTION}\" has no \"### Step N: ...\"")
    if [step.number for step in steps] != list(range(1, len(steps) + 1)):
        fail(f"book/{chapter}.md: the steps are not numbered 1, 2, ... in order")
    listed = [(PAST[kind], name) for step in steps for kind, name in step.files]
    duplicates = sorted({entry for entry in listed if listed.count(entry) > 1})
    real = real_changes(chapter)
    missing, extra = sorted(real - set(listed)), sorted(set(listed) - real)
    problems = []
    if duplicates:
        problems.append("listed twice: " + ", ".join(f"{kind} {name}" for kind, name in duplicates))
    if missing:
        problems.append("in no step: " + ", ".join(f"{kind} {name}" for kind, name in missing))
    if extra:
        problems.append("not true of the code: " + ", ".join(f"{kind} {name}" for kind, name in extra))
    if not steps[-1].checks:
        problems.append("the last step has no check")
    starts = workspace_commands(chapter)
    chosen = [match[1] for command in starts if (match := re.fullmatch(r"make workspace CH=(\S+)", command))]
    if len(chosen) != 1 or len(starts) != 1 or not (
            chosen[0] == chapter or chosen[0].lstrip("0") == chapter[:2].lstrip("0")):
        problems.append(f"before step 1 the section must give the one command `make workspace CH={chapter[:2]}`, "
                        f"not {starts or 'none'}")
    if problems:
        fail(f"book/{chapter}.md, \"{SECTION}\": " + "; ".join(problems))


def students_shell(**settings: str) -> dict[str, str]:
    """The environment of a student's shell, for a command of the book, with
    the settings given: without what this session's make passes down
    (terminal.make_environment), its pytest's (PYTEST_*: the workers, the
    selection) and its workspace (KERNEL_WORKSPACE, make's WORKSPACE)."""
    return {name: value for name, value in make_environment().items()
            if not name.startswith(("PYTEST_", "KERNEL_WORKSPACE", "WORKSPACE"))} | settings


def collect_only(modules: list[str], workspace: Path | None = None) -> subprocess.CompletedProcess:
    """pytest's collection of modules of the harness, in this repository or
    (KERNEL_WORKSPACE) in a workspace; its stdout lists the items as
    module::id."""
    environment = students_shell(**({"KERNEL_WORKSPACE": str(workspace)} if workspace is not None else {}))
    return subprocess.run([sys.executable, "-m", "pytest", *modules, "--collect-only", "-q", "-n", "0",
                           "-p", "no:cacheprovider"], cwd=REPOSITORY, env=environment,
                          capture_output=True, text=True, timeout=120)


@functools.lru_cache(maxsize=None)
def collected_tests(module: str) -> tuple[str, ...]:
    """The ids of the tests a module of the harness holds, as pytest
    collects them in this repository (without a workspace)."""
    result = collect_only([module])
    ids = [line.split("::", 1)[1] for line in result.stdout.splitlines() if "::" in line]
    if result.returncode != 0 or not ids:
        fail(f"pytest could not collect {module}:\n{(result.stdout + result.stderr)[-2000:]}")
    return tuple(ids)


@pytest.mark.parametrize("chapter", book_chapters())
def test_every_name_a_check_selects_is_a_test(chapter):
    """A check that chooses tests with -k must name tests that exist: pytest
    matches -k's names as parts of the test names, so a name that matches
    none (a test renamed since) selects nothing and the check still passes,
    with fewer tests, or none, behind it."""
    problems = []
    for step in steps_of(chapter):
        for command in step.checks:
            words = shlex.split(command)
            if "pytest" not in words or "-k" not in words:
                continue
            module = next((word for word in words if word.startswith("harness/") and word.endswith(".py")), None)
            if module is None:
                problems.append(f"step {step.number}: `{command}` chooses tests with -k but names no module")
                continue
            tests = [test.lower() for test in collected_tests(module)]
            expression = words[words.index("-k") + 1]
            for name in re.findall(r"[\w.\[\]-]+", expression):
                if name in ("and", "or", "not"):
                    continue
                if not any(name.lower() in test for test in tests):
                    problems.append(f"step {step.number}: -k names \"{name}\", which is part of no test's name in {module}")
    if problems:
        fail(f"book/{chapter}.md, \"{SECTION}\": " + "; ".join(problems))


@pytest.mark.parametrize("chapter", book_chapters())
def test_the_last_step_runs_every_module_of_the_chapter(chapter):
    """The last step's checks, without -k, name every module of the
    chapter's tests, test_NN_*.py, one by one or by a pattern the shell
    expands: a chapter may have more than one (chapter 4 has five), and a
    module the book never runs is a part of the chapter a student's kernel
    is never checked against, though the book says a finished chapter
    passes the same tests as its own."""
    steps = steps_of(chapter)
    modules = sorted(str(path.relative_to(REPOSITORY))
                     for path in (REPOSITORY / "harness").glob(f"test_{chapter[:2]}_*.py"))
    words = {word for command in (steps[-1].checks if steps else [])
             if "-k" not in shlex.split(command) for word in shlex.split(command)}
    run = {str(path.relative_to(REPOSITORY)) for word in words if word.startswith("harness/")
           for path in REPOSITORY.glob(word)}
    if not modules or not set(modules) <= run:
        fail(f"book/{chapter}.md: the last step's checks are not the whole chapter: "
             f"they leave out {', '.join(sorted(set(modules) - run)) or 'every module'}")


def test_a_workspace_collects_the_chapters_it_holds(tmp_path):
    """A workspace holds the chapters its student has begun: `make
    workspace CH=06` in a new one makes chapters/06 alone. test_06 imports
    test_05's checks, and chapter 5's absence must leave test_05's items
    out, not stop the collection of test_06's. Likewise a module of chapter
    4's that runs chapters 4 to 6 (test_04_exit.py) runs only those the
    workspace holds: at chapter 4 the others are not there yet. Here the
    workspace holds chapters 4 and 6, as empty directories: their builds
    fail at once, which their items report."""
    for chapter in ("04-testing", "06-double-faults"):
        (tmp_path / "chapters" / chapter).mkdir(parents=True)
    modules = ["harness/test_04_exit.py", "harness/test_05_cpu_exceptions.py", "harness/test_06_double_faults.py"]
    result = collect_only(modules, workspace=tmp_path)
    items = [line for line in result.stdout.splitlines() if "::" in line]
    of_chapter_5 = [item for item in items if item.startswith("test_05_") or "05-cpu-exceptions" in item]
    if result.returncode != 0 or not items or of_chapter_5:
        fail(f"in a workspace that holds chapters 4 and 6, pytest {' '.join(modules)} --collect-only "
             f"should list their tests and none of chapter 5's (status {result.returncode}"
             + (f", also {of_chapter_5[:3]}" if of_chapter_5 else "") + "):\n"
             + (result.stdout + result.stderr)[-2000:])


def make_workspace(chapter: str, home: Path) -> Path:
    """Runs the section's command that starts the workspace, as printed,
    with home as the student's home: ~/kernel-workspace is then
    home/kernel-workspace, where make workspace puts it by default."""
    for command in workspace_commands(chapter):
        result = subprocess.run(["bash", "-c", command], cwd=REPOSITORY, env=students_shell(HOME=str(home)),
                                capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"book/{chapter}.md: `{command}` failed:\n{result.stdout}{result.stderr}")
    target = home / "kernel-workspace" / "chapters" / chapter
    if not target.is_dir():
        fail(f"book/{chapter}.md: after {workspace_commands(chapter)} there is no {target}")
    return target


def apply(step: Step, chapter: str, target: Path) -> None:
    """Does what the step tells the student to do, with the chapter's own
    files for the ones the student would write."""
    for kind, name in step.files:
        if kind == "remove":
            (target / name).unlink()
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            # A fresh modification time, as an editor gives it, so that make rebuilds.
            shutil.copyfile(REPOSITORY_CHAPTERS / chapter / name, target / name)


def run_check(command: str, workspace: Path, where: str) -> None:
    if WORKSPACE_IN_THE_BOOK not in command:
        fail(f"{where}: the check `{command}` does not work in the student's workspace ({WORKSPACE_IN_THE_BOOK})")
    command = command.replace(WORKSPACE_IN_THE_BOOK, str(workspace))
    # The checks run as a student types them, outside this test session,
    # but their pytest without workers of its own (-n 0): this session's
    # workers already take every CPU, and a nested session's workers would
    # only add their start and their own collection, a second each.
    try:
        result = subprocess.run(["bash", "-c", command], cwd=REPOSITORY, env=students_shell(PYTEST_ADDOPTS="-n 0"),
                                capture_output=True, text=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        fail(f"{where}: `{command}` did not finish within {STEP_TIMEOUT} s")
    if result.returncode != 0:
        fail(f"{where}: `{command}` failed (exit status {result.returncode}):\n"
             f"{(result.stdout + result.stderr)[-4000:]}")


def build_previous_chapter_along(chapter: str, home: Path) -> None:
    """Leaves in home's workspace the chapter before this one as a student
    who built it along has it: started with its section's command, and its
    steps' files in place (their checks are that chapter's walk). The
    chapter's own `make workspace` then copies it, and its checks run with
    it there, as they do for that student."""
    chapters = book_chapters()
    index = chapters.index(chapter)
    if index == 0:
        return  # the first chapter of the book has no steps: make workspace copies the repository's
    previous = chapters[index - 1]
    target = make_workspace(previous, home)
    for step in steps_of(previous):
        apply(step, previous, target)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", WALKED)
def test_walking_the_steps_ends_with_a_kernel_that_passes_the_chapter(chapter, tmp_path):
    steps = steps_of(chapter)
    build_previous_chapter_along(chapter, tmp_path)
    target = make_workspace(chapter, tmp_path)
    for step in steps:
        apply(step, chapter, target)
        for command in step.checks:
            run_check(command, tmp_path / "kernel-workspace", f"book/{chapter}.md, step {step.number}")
