"""Where things are: the repository, its chapters and their build output.

A chapter may be named as 2, 02 or 02-minimal-kernel everywhere (pytest's
--chapter, make's CH=); this module turns any of them into the directory.
"""

from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CHAPTERS = REPOSITORY / "chapters"
BUILD = REPOSITORY / "build"
FIXTURES_BUILD = BUILD / "harness-fixtures"
ARTIFACTS = BUILD / "test-artifacts"


def all_chapters() -> list[str]:
    return sorted(p.name for p in CHAPTERS.iterdir() if re.fullmatch(r"\d\d-.+", p.name) and p.is_dir())


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
