"""`make run` works as the README and the book promise, in a terminal
without a window system (SSH, a container, CI): QEMU draws the VGA text
screen in the terminal, names the serial log, and quits through its monitor
with Esc then 2, then `quit`. Under UEFI, which has no text screen, the
serial port prints in the terminal instead, and Ctrl-C quits.

The sessions are driven through the make target in a pseudo-terminal, as a
student would type them; the rest of the suite boots the same ISOs with the
harness's own QEMU command line.
"""

from __future__ import annotations

import re

import pexpect
import pytest

from chapters import REPOSITORY, all_chapters, chapter_build
from terminal import expect, make_in_terminal

HELLO_CHAPTER = "02-minimal-kernel"
LAST_CHAPTER = all_chapters()[-1]


def make_run(*arguments: str) -> pexpect.spawn:
    return make_in_terminal("run", *arguments, terminal="xterm")


def quit_through_the_monitor(session: pexpect.spawn) -> None:
    """What the banner tells a student: Esc then 2, then type quit."""
    __tracebackhide__ = True
    session.send(b"\x1b2")
    expect(session, rb"\(qemu\)", "the QEMU monitor's prompt after Esc 2")
    session.sendline(b"quit")
    expect(session, pexpect.EOF, "QEMU to quit")
    session.close()
    assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after quit"


@pytest.mark.parametrize("chapter", [HELLO_CHAPTER])
def test_make_run_draws_the_screen_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    session = make_run(f"CH={chapter[:2]}")
    try:
        expect(session, rb"Quit with Esc then 2", "the banner that says how to quit")
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn in the terminal")
        quit_through_the_monitor(session)
    finally:
        session.close(force=True)


@pytest.mark.chapter(LAST_CHAPTER)
def test_make_run_boots_the_last_chapter_by_default(build):
    build.chapter(LAST_CHAPTER)
    session = make_run()
    try:
        serial_log = chapter_build(LAST_CHAPTER).relative_to(REPOSITORY) / "serial.log"
        expect(session, re.escape(f"Serial output: {serial_log}").encode(), f"the banner naming {serial_log}")
        quit_through_the_monitor(session)
    finally:
        session.close(force=True)


@pytest.mark.parametrize("chapter", [HELLO_CHAPTER])
def test_make_run_under_uefi_prints_the_serial_port_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    session = make_run(f"CH={chapter[:2]}", "FIRMWARE=uefi")
    try:
        expect(session, rb"serial output follows\. Quit with Ctrl-C\.", "the banner for UEFI")
        expect(session, rb"No VGA text mode, so Hello World! is not shown",
               "the kernel's line on serial that there is no text screen")
        session.sendintr()
        expect(session, pexpect.EOF, "QEMU to quit on Ctrl-C")
    finally:
        session.close(force=True)
