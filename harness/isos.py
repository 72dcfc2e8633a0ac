"""GRUB ISOs that pass the kernel a command line, built once and kept.

From chapter 4 on, the kernel's command line selects which in-kernel tests
run. GRUB reads it from grub.cfg inside the ISO, so each command line needs
an ISO of its own. Building one takes a quarter of a second; the harness
keeps them under build/harness-isos/, named after everything they are made
of, so that the next run (or another xdist worker) finds them ready, and an
ISO is never used once its kernel has changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import multiboot2_header
from build import BUILD_LIMITS, run_program_within_limits
from chapters import BUILD, REPOSITORY
from elf import ElfFile
from verdict import KernelFailure, Verdict

CACHE = BUILD / "harness-isos"
MAKE_ISO = REPOSITORY / "common" / "make-iso.sh"
GRUB_CONFIG_TEMPLATE = REPOSITORY / "common" / "grub.cfg.in"


def iso_with_command_line(elf: ElfFile, command_line: str) -> Path:
    # GRUB loads a kernel with a Multiboot2 header with multiboot2, any
    # other with multiboot (chapter 1).
    boot_command = "multiboot2" if multiboot2_header.header_offset(elf) is not None else "multiboot"
    title = f"{elf.path.parent.name} {elf.path.stem}"
    ingredients = hashlib.sha256()
    for part in (elf.data, command_line.encode(), boot_command.encode(), title.encode(),
                 MAKE_ISO.read_bytes(), GRUB_CONFIG_TEMPLATE.read_bytes()):
        ingredients.update(len(part).to_bytes(8, "little") + part)
    # One ISO per kernel and command line: a newer kernel's replaces the old.
    family = f"{elf.path.parent.name}-{elf.path.stem}-{hashlib.sha256(command_line.encode()).hexdigest()[:12]}"
    iso = CACHE / f"{family}-{ingredients.hexdigest()[:16]}.iso"
    if iso.exists():
        return iso

    CACHE.mkdir(parents=True, exist_ok=True)
    # Built under a name of its own and renamed when complete, so that a
    # parallel worker never boots half an ISO.
    partial = CACHE / f"{iso.stem}.partial-{os.getpid()}.iso"
    # The student's make-iso.sh, within a build's limits.
    try:
        result = run_program_within_limits([str(MAKE_ISO), boot_command, str(elf.path), str(partial), title,
                                            command_line], MAKE_ISO.name, BUILD_LIMITS, writes_into=[CACHE])
        if result.returncode != 0:
            raise KernelFailure(Verdict.BUILD_FAILED, f"could not make an ISO with the command line {command_line!r}",
                                f"{MAKE_ISO.name} failed; its output follows", result.stdout + result.stderr)
    except KernelFailure:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, iso)
    for older in CACHE.glob(f"{family}-*.iso"):
        if older != iso and ".partial-" not in older.name:
            older.unlink(missing_ok=True)
    return iso
