"""Where things are: the repository, its chapters and their build output.

A chapter may be named as 2, 02 or 02-minimal-kernel everywhere (pytest's
--chapter, make's CH=); this module turns any of them into the directory.

A test session builds and boots either the normal kernels, in
build/<chapter>, or (pytest's --ubsan) the kernels built with the undefined
behaviour sanitizer, `make UBSAN=1`, in build/ubsan/<chapter>:
chapter_build() is where the session's kernels are, artifacts() where its
failed tests keep their evidence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
# KERNEL_WORKSPACE=DIR tests a student's workspace (make workspace, book
# chapters 2-6) instead of this repository's chapters: DIR/chapters/NN-name,
# built into DIR/build.
WORKSPACE = Path(os.environ["KERNEL_WORKSPACE"]).expanduser().resolve() if os.environ.get("KERNEL_WORKSPACE") else None
CHAPTERS = (WORKSPACE or REPOSITORY) / "chapters"
BUILD = (WORKSPACE or REPOSITORY) / "build"
FIXTURES_BUILD = BUILD / "harness-fixtures"
ARTIFACTS = BUILD / "test-artifacts"
UBSAN_BUILD = BUILD / "ubsan"

_ubsan = False
_selected: set[str] | None = None  # the chapter numbers --chapter names; None for all


def all_chapters(root: Path = CHAPTERS) -> list[str]:
    """The chapters of the session (a workspace holds those its student has
    begun), or of another root's chapters/, such as REPOSITORY's."""
    return sorted(p.name for p in root.iterdir() if re.fullmatch(r"\d\d-.+", p.name) and p.is_dir())


def chapter_directory(name: str) -> str:
    """'2', '02' or '02-minimal-kernel' -> '02-minimal-kernel'."""
    name = str(name)
    number = name.split("-", 1)[0]
    if number.isdigit():
        number = f"{int(number):02d}"
    for chapter in all_chapters():
        if chapter == name or chapter.split("-", 1)[0] == number and "-" not in name:
            return chapter
    raise ValueError(f"no chapter {name!r}; the chapters are: {', '.join(all_chapters())}")


def chapter_number(name: str) -> str:
    """'02-minimal-kernel' (or '2') -> '02'."""
    return chapter_directory(name)[:2]


def build_with_ubsan() -> None:
    """From now on chapters are built with UBSAN=1 (conftest.py's --ubsan)."""
    global _ubsan
    _ubsan = True


def select_chapters(names: list[str]) -> None:
    """Only these chapters' tests run (conftest.py's --chapter): test
    modules then build no other chapter while pytest collects."""
    global _selected
    _selected = {chapter_number(name) for name in names}


def selected(name: str) -> bool:
    return _selected is None or chapter_number(name) in _selected


def make_variables() -> list[str]:
    """What make needs on its command line to build the session's kernels."""
    return ["UBSAN=1"] if _ubsan else []


def artifacts() -> Path:
    """Where failed tests keep their evidence: a UBSan run has its own
    place, so that it does not clear what the normal run kept."""
    return UBSAN_BUILD / "test-artifacts" if _ubsan else ARTIFACTS


def build_root() -> Path:
    """make's BUILD_ROOT for this session: build, or build/ubsan."""
    return UBSAN_BUILD if _ubsan else BUILD


def chapter_build(name: str) -> Path:
    """Where make puts a chapter's kernels in this session."""
    return build_root() / chapter_directory(name)


def ubsan_chapters() -> list[str]:
    """The chapters a UBSan build can report in: those with a panic(),
    through which common/ubsan.cpp reports (common/kernel.mk's rule too)."""
    return [chapter for chapter in all_chapters() if (CHAPTERS / chapter / "panic.h").exists()]
