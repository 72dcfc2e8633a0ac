"""The book's figures (book/figures/*.svg) are what common/book/figures.py
draws from the code today.

The memory map is drawn from chapter 6's kernel.elf, so this module builds
chapter 6 first, with the default compiler as make book does. A figure that has gone stale after a change of the code
fails here, with the command that redraws it; a figure whose facts disagree
with the static_asserts of the code is not drawn at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from chapters import REPOSITORY

FIGURES_SCRIPT = REPOSITORY / "common" / "book" / "figures.py"
sys.path.insert(0, str(FIGURES_SCRIPT.parent))
import figures  # noqa: E402

# A test of the book, not of a chapter's kernel: --chapter leaves it out.
pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def kernel():
    """Chapter 6's kernel as make book builds it (make book-kernel): with
    the default compiler whatever CXX this run has, since another compiler
    lays the kernel out at other addresses."""
    result = subprocess.run(["make", "--no-print-directory", "book-kernel"], cwd=REPOSITORY,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"chapter 6 did not build:\n{result.stdout}{result.stderr}"
    return REPOSITORY / "build" / "book-kernel" / "06-double-faults" / "kernel.elf"


def test_the_committed_figures_are_what_the_code_draws(kernel):
    result = subprocess.run([sys.executable, str(FIGURES_SCRIPT), "--kernel", str(kernel), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{result.stderr.strip()}\nRedraw them with: make book (or {FIGURES_SCRIPT.relative_to(REPOSITORY)})")


def test_a_stale_figure_is_noticed(kernel, tmp_path):
    """The check above can fail: one figure changed by a byte is reported."""
    copy = tmp_path / "figures"
    shutil.copytree(figures.FIGURES, copy)
    stale = copy / "idt-gate.svg"
    stale.write_text(stale.read_text().replace("offset_low", "offset_lwo", 1))
    result = subprocess.run([sys.executable, str(FIGURES_SCRIPT), "--kernel", str(kernel), "--check",
                             "--output", str(copy)], capture_output=True, text=True)
    assert result.returncode == 1 and "idt-gate.svg is not what figures.py draws" in result.stderr


def test_a_figure_that_disagrees_with_a_static_assert_is_not_drawn(tmp_path, monkeypatch):
    """Give the gate a field of the wrong size in a copy of idt.h: the
    offsets the figure would compute no longer match the header's
    offsetof asserts, and drawing it stops with the reason."""
    chapter = tmp_path / "05-cpu-exceptions"
    chapter.mkdir()
    header = (REPOSITORY / "chapters" / "05-cpu-exceptions" / "idt.h").read_text()
    broken = header.replace("uint8_t interrupt_stack = 0;", "uint16_t interrupt_stack = 0;", 1)
    assert broken != header, "idt.h no longer declares interrupt_stack as this test expects"
    (chapter / "idt.h").write_text(broken)
    monkeypatch.setattr(figures, "CHAPTERS", tmp_path)
    with pytest.raises(figures.FactsDisagree, match="GateDescriptor::attributes"):
        figures.idt_gate()
    (chapter / "idt.h").write_text(header)
    figures.idt_gate()
