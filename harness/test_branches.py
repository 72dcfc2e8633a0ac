"""The chapter branches (`make branches`, common/make-branches.sh).

The script runs in a temporary clone of this repository, never in the
repository itself. The checks: it leaves the clone's HEAD, index and working
tree alone; it makes one branch per chapter, chained in the book's order,
and the same ones when run again; the diff between two neighbouring
branches names exactly the files `make diff` names, and the chapter's page;
a branch has every file its scripts in common/ call; and a branch is a
project that builds and boots on its own, in a clone of its own.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import host
from chapters import REPOSITORY, all_chapters

# The module's fixture clones the repository and makes the branches, once on every
# worker that runs one of its tests: kept on one worker (make test runs
# --dist loadgroup), that work is done once.
pytestmark = pytest.mark.xdist_group("chapter-branches")

MAKE_BRANCHES = REPOSITORY / "common" / "make-branches.sh"
CHAPTERS = all_chapters()
NEIGHBOURS = list(zip(CHAPTERS, CHAPTERS[1:]))

# A file in the summary of common/diff.sh: "  added:   tests/vga_tests.cpp".
DIFF_SUMMARY_LINE = re.compile(r"^  (?:added|changed|removed): +(\S+)$", re.MULTILINE)
# A file that a script in common/ runs or reads beside itself:
# "$(dirname "$0")/qemu-ending.sh".
BESIDE_THE_SCRIPT = re.compile(r'\$\(dirname "\$0"\)/([\w.-]+(?:/[\w.-]+)*)')


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(repository), *arguments], check=True,
                          capture_output=True, text=True).stdout.strip()


def make_branches(repository: Path) -> None:
    result = subprocess.run([str(MAKE_BRANCHES)], cwd=repository, capture_output=True, text=True)
    assert result.returncode == 0, f"make-branches.sh failed:\n{result.stdout}{result.stderr}"


def branch(chapter: str) -> str:
    return f"chapter-{chapter[:2]}"


def untouched_state(repository: Path) -> tuple[str, str, str]:
    """What the script must not change: where HEAD points, the commit, and
    the status of the index and working tree."""
    return (git(repository, "symbolic-ref", "HEAD"), git(repository, "rev-parse", "HEAD"),
            git(repository, "status", "--porcelain", "--untracked-files=all"))


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, tuple[str, str, str]]:
    """A clone of this repository's current commit, with the branches made;
    and its state from before they were made."""
    repository = tmp_path_factory.mktemp("branches") / "repository"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(repository)], check=True)
    before = untouched_state(repository)
    make_branches(repository)
    return repository, before


def test_head_index_and_working_tree_are_left_alone(clone):
    repository, before = clone
    assert untouched_state(repository) == before


def test_one_branch_per_chapter_in_the_books_order(clone):
    repository, _ = clone
    history = git(repository, "rev-list", "--reverse", branch(CHAPTERS[-1])).splitlines()
    assert history == [git(repository, "rev-parse", branch(chapter)) for chapter in CHAPTERS]


def test_running_again_makes_the_same_branches(clone):
    repository, _ = clone
    first = [git(repository, "rev-parse", branch(chapter)) for chapter in CHAPTERS]
    make_branches(repository)
    assert [git(repository, "rev-parse", branch(chapter)) for chapter in CHAPTERS] == first


@pytest.mark.parametrize("older, newer", NEIGHBOURS, ids=[f"{a[:2]}-{b[:2]}" for a, b in NEIGHBOURS])
def test_diff_between_neighbouring_branches_is_the_step(clone, older, newer):
    repository, _ = clone
    summary = subprocess.run([str(REPOSITORY / "common" / "diff.sh"), older, newer, older, newer],
                             cwd=repository, check=True, capture_output=True, text=True).stdout
    step = set(DIFF_SUMMARY_LINE.findall(summary))
    assert step, f"make diff lists no files between {older} and {newer}:\n{summary[:2000]}"
    changed = set(git(repository, "diff", "--name-only", branch(older), branch(newer)).splitlines())
    assert changed == step | {"README.md"}


def test_a_branch_has_every_file_its_scripts_use(clone):
    """make run, make gdb and the dependency check are scripts in common/
    that call others beside them: a branch whose copy of make-branches.sh's
    list of shared files leaves one out builds, and then fails in a
    student's make run ("No such file or directory")."""
    repository, _ = clone
    files = set(git(repository, "ls-tree", "-r", "--name-only", branch(CHAPTERS[-1])).splitlines())
    scripts = sorted(name for name in files if name.startswith("common/") and name.endswith(".sh"))
    assert scripts, f"the {branch(CHAPTERS[-1])} branch has no scripts in common/"
    missing = set()
    for script in scripts:
        text = git(repository, "show", f"{branch(CHAPTERS[-1])}:{script}")
        for used in BESIDE_THE_SCRIPT.findall(text):
            path = str(Path(script).parent / used)
            if ".." not in Path(used).parts and path not in files:
                missing.add(f"{script} uses {path}")
    assert not missing, ("the branch lacks files its scripts use (common/make-branches.sh's shared_files): "
                         + "; ".join(sorted(missing)))


def test_a_branch_builds_and_boots_on_its_own(clone, boot, tmp_path):
    host.check()
    repository, _ = clone
    checkout = tmp_path / "chapter-03"
    subprocess.run(["git", "clone", "--quiet", "--branch", "chapter-03", str(repository), str(checkout)],
                   check=True)
    result = subprocess.run(["make", "-j2"], cwd=checkout, capture_output=True, text=True)
    assert result.returncode == 0, f"make failed in the chapter-03 branch:\n{result.stdout[-3000:]}{result.stderr}"
    build = checkout / "build" / "03-vga-text"
    assert (build / "kernel.iso").is_file()
    grub_file = subprocess.run(["grub-file", "--is-x86-multiboot2", str(build / "kernel.elf")])
    assert grub_file.returncode == 0, "grub-file finds no Multiboot2 header in the branch's kernel.elf"
    boot(build / "kernel.iso").wait_until_halted_in("halt_forever")
