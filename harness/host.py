"""What the host provides for a boot, read from common/host/ where the
shell scripts (run.sh, gdb.sh, check-deps.sh) read it too: the QEMU
machine every boot gets, the UEFI firmware's arguments, and the tool each
purpose needs with the Debian package that brings it.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from chapters import REPOSITORY
from verdict import KernelFailure, Verdict

HOST = REPOSITORY / "common" / "host"
QEMU = "qemu-system-x86_64"


def read_qemu_args(name: str) -> tuple[str, ...]:
    """A file of QEMU options, one with its value per line, # for comments."""
    words: list[str] = []
    for line in (HOST / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            words.extend(line.split())
    return tuple(words)


MACHINE_ARGS = read_qemu_args("qemu-machine.args")
UEFI_ARGS = read_qemu_args("qemu-uefi.args")


@dataclass(frozen=True)
class Requirement:
    purpose: str  # build, uefi, gdb, book or test
    kind: str  # command, file or python
    names: tuple[str, ...]  # alternatives: any one will do
    packages: tuple[str, ...]  # alternatives, as distributions name them

    def found(self) -> str | None:
        """The first of the names that is installed (a command's path)."""
        for name in self.names:
            if self.kind == "command" and (path := shutil.which(name)):
                return path
            if self.kind == "file" and Path(name).exists():
                return name
            # The harness runs under Debian's Python, whose modules these are.
            if self.kind == "python" and importlib.util.find_spec(name) is not None:
                return name
        return None


def requirements() -> list[Requirement]:
    rows = []
    for line in (HOST / "requirements.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            purpose, kind, names, packages = line.split()
            rows.append(Requirement(purpose, kind, tuple(names.split("|")), tuple(packages.split("|"))))
    return rows


def missing(*purposes: str) -> dict[str, str]:
    """What is missing for building and booting and for the given purposes:
    tool or file (a|b where either will do) -> its package, or its
    alternative packages a|b as requirements.tsv lists them."""
    wanted = {"build", *purposes}
    return {"|".join(r.names): "|".join(r.packages)
            for r in requirements() if r.purpose in wanted and r.found() is None}


def command(name: str) -> str | None:
    """The path of the command requirements.tsv lists as NAME, under any of
    its alternative names (chromium may be google-chrome)."""
    return next(r.found() for r in requirements() if r.kind == "command" and name in r.names)


def check(*purposes: str) -> None:
    """Raises TOOL_MISSING naming what is missing and how to install it:
    the first of a package's alternatives, and the others after."""
    absent = missing(*purposes)
    if absent:
        packages = sorted({alternatives.split("|")[0] for alternatives in absent.values()})
        others = sorted(alternatives.replace("|", " or ") for alternatives in absent.values() if "|" in alternatives)
        raise KernelFailure(Verdict.TOOL_MISSING, f"not installed: {', '.join(absent)}",
                            f"install with: sudo apt-get install {' '.join(packages)}"
                            + "".join(f"; {choice}, whichever your system has" for choice in others))
