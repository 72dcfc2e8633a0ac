"""`make diff FROM=.. TO=..` as the README promises: a summary of the files a
step adds and changes, then the diff; a chapter it does not know is named,
with the chapters it does know, and a missing FROM or TO gets the usage.
"""

from __future__ import annotations

import subprocess

from chapters import REPOSITORY, all_chapters
from terminal import make_environment


def make_diff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "diff", *arguments], cwd=REPOSITORY,
                          env=make_environment(), capture_output=True, text=True, timeout=60)


def test_make_diff_summarises_then_shows_a_step():
    result = make_diff("FROM=3", "TO=04-testing")
    assert result.returncode == 0, result.stderr
    summary, _, diff = result.stdout.partition("\n\n")
    assert summary.startswith("What 04-testing adds to 03-vga-text:\n"), summary
    assert "  added:   serial_port.cpp" in summary.splitlines(), summary
    assert "  changed: main.cpp" in summary.splitlines(), summary
    assert "+++ 04-testing/serial_port.cpp" in diff


def test_make_diff_names_an_unknown_chapter_and_lists_the_chapters():
    result = make_diff("FROM=03", "TO=42")
    assert result.returncode != 0, "make diff with an unknown chapter succeeded"
    lines = result.stderr.splitlines()
    assert lines[0] == "make diff: no chapter '42'. Choose one of:", result.stderr
    assert lines[1:1 + len(all_chapters())] == [f"  {chapter}" for chapter in all_chapters()], result.stderr


def test_make_diff_without_to_gives_the_usage():
    result = make_diff("FROM=03")
    assert result.returncode != 0, "make diff without TO succeeded"
    assert result.stderr.startswith("usage: make diff FROM=03 TO=04"), result.stderr
