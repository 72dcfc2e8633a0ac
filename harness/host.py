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
    purpose: str  # build, uefi, test or book
    kind: str  # command, file or python
    name: str
    package: str

    def installed(self) -> bool:
        if self.kind == "command":
            return shutil.which(self.name) is not None
        if self.kind == "file":
            return Path(self.name).exists()
        # The harness runs under Debian's Python, whose modules these are.
        return importlib.util.find_spec(self.name) is not None


def requirements() -> list[Requirement]:
    rows = []
    for line in (HOST / "requirements.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(Requirement(*line.split()))
    return rows


def missing(*purposes: str) -> dict[str, str]:
    """What is missing for building and booting and for the given purposes:
    tool or file -> the package that brings it."""
    wanted = {"build", *purposes}
    return {r.name: r.package for r in requirements() if r.purpose in wanted and not r.installed()}


def check(*purposes: str) -> None:
    """Raises TOOL_MISSING naming what is missing and how to install it."""
    absent = missing(*purposes)
    if absent:
        packages = " ".join(sorted(set(absent.values())))
        raise KernelFailure(Verdict.TOOL_MISSING, f"not installed: {', '.join(absent)}",
                            f"install with: sudo apt-get install {packages} (or run `make deps`)")
