"""`make run` works as the README and the book promise, in a terminal
without a window system (SSH, a container): it says how to quit and waits
for Enter, so that the notice can be read before QEMU draws the VGA text
screen over it; QEMU quits through its monitor with Esc then 2, then
`quit`; the serial log is named then, and only when the kernel wrote to it
(chapter 4 on). Under UEFI, which has no text screen, the
serial port prints in the terminal instead, and Ctrl-C quits.

The sessions are driven through the make target in a pseudo-terminal, as a
student would type them; the rest of the suite boots the same ISOs with the
harness's own QEMU command line.
"""

from __future__ import annotations

import pexpect
import pytest

from chapters import REPOSITORY, all_chapters, chapter_build
from terminal import expect, make_in_terminal, writes_the_serial_log_of

# A test of the project's commands: no --chapter selects it (conftest.py).
pytestmark = pytest.mark.commands

HELLO_CHAPTER = "02-minimal-kernel"
LAST_CHAPTER = all_chapters()[-1]
# OVMF and GRUB take some 5 s under QEMU's emulator on an idle machine, and
# were seen to take over 30 s on a loaded one (load average 20 on 2 cores).
UEFI_BOOT_TIMEOUT = 120


def make_run(*arguments: str, ci: bool = False) -> pexpect.spawn:
    return make_in_terminal("run", *arguments, terminal="xterm", ci=ci)


def start_after_the_notice(session: pexpect.spawn) -> None:
    """The notice on how to quit, then Enter where make run asks for it."""
    __tracebackhide__ = True
    expect(session, rb"Quit with Esc then 2", "the notice that says how to quit")
    expect(session, rb"Press Enter to start\. ", "make run to wait for Enter")
    session.send(b"\r")


def quit_through_the_monitor(session: pexpect.spawn) -> None:
    """What the banner tells a student: Esc then 2, then type quit."""
    __tracebackhide__ = True
    session.send(b"\x1b2")
    expect(session, rb"\(qemu\)", "the QEMU monitor's prompt after Esc 2")
    session.sendline(b"quit")
    expect(session, pexpect.EOF, "QEMU to quit")
    session.close()
    assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after quit"


@pytest.mark.parametrize("chapter", [pytest.param(HELLO_CHAPTER, marks=writes_the_serial_log_of(HELLO_CHAPTER))])
def test_make_run_draws_the_screen_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    with make_run(f"CH={chapter[:2]}") as session:
        start_after_the_notice(session)
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn in the terminal")
        quit_through_the_monitor(session)
        assert "serial" not in session.before.decode("latin-1"), (
            f"make run names a serial log for {chapter}, whose kernel writes nothing there: "
            f"{session.before.decode('latin-1')!r}")


@pytest.mark.parametrize("chapter", [pytest.param(HELLO_CHAPTER, marks=writes_the_serial_log_of(HELLO_CHAPTER))])
def test_make_run_in_ci_does_not_wait_for_enter(build, chapter: str):
    build.chapter(chapter)
    with make_run(f"CH={chapter[:2]}", ci=True) as session:
        expect(session, rb"Quit with Esc then 2", "the notice that says how to quit")
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn without waiting for Enter")
        assert b"Press Enter" not in session.before, "make run waits for Enter in CI"
        quit_through_the_monitor(session)


@writes_the_serial_log_of(LAST_CHAPTER)
def test_make_run_boots_the_last_chapter_by_default(build):
    build.chapter(LAST_CHAPTER)
    with make_run() as session:
        start_after_the_notice(session)
        # Its kernel writes the breakpoint's report to the serial port too.
        expect(session, rb"It did not crash", "the kernel's screen")
        serial_log = chapter_build(LAST_CHAPTER).relative_to(REPOSITORY) / "serial.log"
        quit_through_the_monitor(session)
        assert f"The kernel's serial output is in {serial_log}" in session.before.decode("latin-1"), (
            f"make run does not name {serial_log} after quitting: {session.before.decode('latin-1')!r}")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [HELLO_CHAPTER])
def test_make_run_under_uefi_prints_the_serial_port_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    with make_run(f"CH={chapter[:2]}", "FIRMWARE=uefi") as session:
        expect(session, rb"serial output follows\. Quit with Ctrl-C\.", "the banner for UEFI")
        expect(session, rb"No VGA text mode, so Hello World! is not shown",
               "the kernel's line on serial that there is no text screen", timeout=UEFI_BOOT_TIMEOUT)
        session.sendintr()
        expect(session, pexpect.EOF, "QEMU to quit on Ctrl-C")
