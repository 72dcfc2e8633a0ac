"""Kernel code that keeps data below RSP, where an interrupt writes.

The x86_64 System V ABI lets a function use the 128 bytes below RSP (the
red zone) without moving RSP. In a kernel that is wrong: an interrupt or an
exception pushes its frame right below RSP, over whatever was kept there.
common/toolchain.mk builds with -mno-red-zone; without it GCC keeps a leaf
function's locals below RSP, and nothing else in the suite notices, since
an interrupt seldom comes at that very moment.

This reads a kernel's disassembly (objdump -d, once) and finds, function
by function, the memory operands that lie below RSP: those at a negative
offset from RSP, and those at a negative offset from RBP that reach below
where the function ever moved RSP after it set RBP. The instructions are
read in their order in memory, not along their paths, which is enough for
compiled prologues; a 32-bit kernel (chapter 1) has no red zone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from elf import ElfFile
from verdict import KernelFailure, Verdict

# <function>: starts a function's instructions in objdump -d's output.
FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>.+)>:$")
# "  ffff:\tmnemonic operands" (with --no-show-raw-insn).
INSTRUCTION = re.compile(r"^\s*[0-9a-f]+:\s+(?P<text>.*)$")
BELOW = re.compile(r"-0x(?P<offset>[0-9a-f]+)\(%(?P<register>rsp|rbp)\)")
MOVES_RSP = re.compile(r"^(?P<mnemonic>sub|add)q?\s+\$0x(?P<amount>[0-9a-f]+),%rsp$")
SETS_RBP = re.compile(r"^movq?\s+%rsp,%rbp$")


def uses_below_rsp(elf: Path) -> dict[str, str]:
    """The functions of a kernel that keep data below RSP, each with the
    first instruction that does."""
    if ElfFile(elf).bits == 32:
        return {}
    if shutil.which("objdump") is None:
        raise KernelFailure(Verdict.TOOL_MISSING, "not installed: objdump",
                            "install with: sudo apt-get install binutils")
    disassembly = subprocess.run(["objdump", "-d", "--demangle", "--no-show-raw-insn", str(elf)], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
    found: dict[str, str] = {}
    function = None
    for line in disassembly.splitlines():
        if start := FUNCTION.match(line):
            function = start["name"]
            # How far RSP is below its value at the function's entry, the
            # deepest it has been, and where RBP points (None: not at the stack).
            depth = deepest = 0
            rbp_depth = None
            continue
        instruction = INSTRUCTION.match(line)
        if function is None or instruction is None:
            continue
        text = " ".join(instruction["text"].split("#")[0].split())
        mnemonic = text.split(" ")[0]
        if mnemonic.startswith("push"):
            depth += 8
        elif mnemonic.startswith("pop"):
            depth -= 8
        elif moved := MOVES_RSP.match(text):
            depth += int(moved["amount"], 16) * (1 if moved["mnemonic"] == "sub" else -1)
        elif SETS_RBP.match(text):
            rbp_depth = depth
        deepest = max(deepest, depth)
        # lea only computes an address (stack clash probing does, below RSP).
        for access in [] if mnemonic == "lea" else BELOW.finditer(text):
            offset = int(access["offset"], 16)
            below = access["register"] == "rsp" or (rbp_depth is not None and offset > deepest - rbp_depth)
            if below and function not in found:
                found[function] = text
    return found
