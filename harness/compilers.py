"""The two compilers a chapter builds with, g++ and clang++: which of them
built a kernel, read from the kernel itself, and whether the tools each
needs are installed (test_toolchains.py, test_ubsan.py, test_book.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from verdict import KernelFailure, Verdict

# What each compiler writes into the DWARF producer string of what it
# compiles (DW_AT_producer), which the linker keeps in the kernel's
# debugging information.
PRODUCER_MARKS = {"g++": b"GNU C++", "clang++": b"clang version"}

# What each compiler builds with, and the Debian package it comes in.
TOOLS = {
    "g++": {"g++": "g++", "ld": "binutils"},
    "clang++": {"clang++": "clang", "ld.lld": "lld"},
}


def compiler_that_built(elf: Path) -> str:
    data = elf.read_bytes()
    found = [compiler for compiler, mark in PRODUCER_MARKS.items() if mark in data]
    assert len(found) == 1, f"{elf}: cannot tell which compiler built it (producer marks found: {found})"
    return found[0]


def other_compiler(compiler: str) -> str:
    return next(other for other in PRODUCER_MARKS if other != compiler)


def check_tools(compiler: str) -> None:
    missing = {tool: package for tool, package in TOOLS[compiler].items() if shutil.which(tool) is None}
    if missing:
        raise KernelFailure(Verdict.TOOL_MISSING, f"not installed: {', '.join(missing)}",
                            f"install with: sudo apt-get install {' '.join(sorted(set(missing.values())))}")
