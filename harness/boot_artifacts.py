"""The evidence a failed boot leaves behind, for a person to read later.

build/test-artifacts/<test>/boot-<n>-<image>/ holds serial.log, qemu.log
(QEMU's interrupt log), screen.png, screen.txt, registers.txt and
verdict.txt. Every file is bounded: a log longer than twice
boot_limits.LOG_KEEP is kept as its first and last LOG_KEEP bytes, and once
the artifacts of a run pass boot_limits.ARTIFACTS_LIMIT only verdict.txt is
written, saying so.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from boot_limits import ARTIFACTS_LIMIT, LOG_KEEP, directory_size, mebibytes, read_head_and_tail
from registers import Registers
from vga_screen import Screen


@dataclass
class BootRecord:
    """What one boot has to keep."""
    serial_text: str
    interrupt_log: Path
    qemu_messages: Path
    screenshot: Path  # may not exist: no screenshot after QEMU exited
    screen: Screen | None
    registers: Registers | None
    verdict: str  # the failure's description
    command: list[str]
    exit_status: int | None


def _bounded(text: str) -> str:
    if len(text) <= 2 * LOG_KEEP:
        return text
    return (text[:LOG_KEEP] + f"\n[... {len(text) - 2 * LOG_KEEP} characters left out: the first and last "
            f"{mebibytes(LOG_KEEP)} are kept ...]\n" + text[-LOG_KEEP:])


def save(record: BootRecord, directory: Path, all_artifacts: Path) -> None:
    """Writes the record's files into `directory`, which lies under
    `all_artifacts` (whose total size is held to ARTIFACTS_LIMIT)."""
    directory.mkdir(parents=True, exist_ok=True)
    verdict = record.verdict
    if directory_size(all_artifacts) > ARTIFACTS_LIMIT:
        verdict += f"\n\nNo other evidence kept: the artifacts of this run passed {mebibytes(ARTIFACTS_LIMIT)}."
    else:
        (directory / "serial.log").write_text(_bounded(record.serial_text))
        if record.interrupt_log.exists():
            (directory / "qemu.log").write_text(read_head_and_tail(record.interrupt_log))
        messages = read_head_and_tail(record.qemu_messages)
        if messages.strip():
            (directory / "qemu-stderr.log").write_text(messages)
        if record.screenshot.exists():
            shutil.copy(record.screenshot, directory / "screen.png")
        else:
            verdict += f"\n\nNo screenshot: QEMU had exited (status {record.exit_status}) when the test failed."
        if record.screen is not None:
            (directory / "screen.txt").write_text(record.screen.render() + "\n")
        if record.registers is not None:
            (directory / "registers.txt").write_text(record.registers.text)
    (directory / "verdict.txt").write_text(f"{verdict}\n\ncommand: {' '.join(record.command)}\n")
