"""`make run` works as the README and the book promise, in a terminal
without a window system (SSH, a container): it says how to quit and waits
for Enter, so that the notice can be read before QEMU draws the VGA text
screen over it; QEMU quits through its monitor with Esc then 2, then
`quit`; the serial log is named then, and only when the kernel wrote to it
(chapter 4 on). Under UEFI, which has no text screen, the
serial port prints in the terminal instead, and Ctrl-C quits. Whichever way
QEMU ends, the last line says how: a triple fault (which ends QEMU at once,
screen and all, with the status of a quit), a reset or a power-off the
kernel asked for (the same), the kernel's exit through isa-debug-exit (0
included, whose status 1 QEMU's own errors give too), a quit (Ctrl-C under
UEFI too), or a signal from another program (kill, kill -9, which must
leave the terminal as it was).

The sessions are driven through the make target in a pseudo-terminal, as a
student would type them; the rest of the suite boots the same ISOs with the
harness's own QEMU command line. The harness's own broken kernels
(harness/fixtures), which no make target boots, go through make run's
script, common/run.sh, as does a machine without QEMU.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pexpect
import pytest

from chapters import REPOSITORY, all_chapters, chapter_build
from terminal import KILLED_LINE, POWER_OFF_LINE, QUIT_LINE, RESET_LINE, SIGNAL_FROM_OUTSIDE_LINE, \
    TRIPLE_FAULT_LINE, commands_but, expect, in_terminal, make_in_terminal, qemu_running_with, shown, \
    writes_the_serial_log_of

# A test of the project's commands: no --chapter selects it (conftest.py).
pytestmark = pytest.mark.commands

HELLO_CHAPTER = "02-minimal-kernel"
LAST_CHAPTER = all_chapters()[-1]
# OVMF and GRUB take some 5 s under QEMU's emulator on an idle machine, and
# were seen to take over 30 s on a loaded one (load average 20 on 2 cores).
UEFI_BOOT_TIMEOUT = 120
# The terminal's settings as `stty -g` prints them, after a word of the test's.
TERMINAL_SETTINGS = rb"terminal: ([0-9a-f:]+)\r?\n"
# How an xterm leaves the screen a full-screen program drew on (tput
# rmcup), and shows the cursor that program hid (tput cnorm).
LEAVE_THE_SCREEN = b"\x1b[?1049l"
SHOW_THE_CURSOR = b"\x1b[?25h"


def make_run(*arguments: str, ci: bool = False) -> pexpect.spawn:
    return make_in_terminal("run", *arguments, terminal="xterm", ci=ci)


def run_script(iso: Path) -> pexpect.spawn:
    """make run's own script, for a kernel no make target builds."""
    return in_terminal("common/run.sh", str(iso), terminal="xterm")


def copy_of(iso: Path, directory: Path) -> Path:
    """The ISO as directory/kernel.iso, where run.sh also writes its serial
    log: each test its own, and a name like make run's."""
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(iso, directory / "kernel.iso"))


def start_after_the_notice(session: pexpect.spawn) -> None:
    """The notice on how to quit, then Enter where make run asks for it."""
    __tracebackhide__ = True
    expect(session, rb"Quit with Esc then 2", "the notice that says how to quit")
    expect(session, rb"Press Enter to start\. ", "make run to wait for Enter")
    session.send(b"\r")


def quit_through_the_monitor(session: pexpect.spawn) -> str:
    """What the banner tells a student: Esc then 2, then type quit. Returns
    what make run printed once QEMU had quit, up to its last line."""
    __tracebackhide__ = True
    session.send(b"\x1b2")
    expect(session, rb"\(qemu\)", "the QEMU monitor's prompt after Esc 2")
    session.sendline(b"quit")
    expect(session, QUIT_LINE, "make run's line that QEMU has quit")
    after_the_quit = session.before.decode("latin-1")
    assert "triple-faulted" not in after_the_quit, f"make run speaks of a triple fault after a quit: {after_the_quit!r}"
    expect(session, pexpect.EOF, "QEMU to quit")
    session.close()
    assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after quit"
    return after_the_quit


@pytest.mark.parametrize("chapter", [pytest.param(HELLO_CHAPTER, marks=writes_the_serial_log_of(HELLO_CHAPTER))])
def test_make_run_draws_the_screen_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    with make_run(f"CH={chapter[:2]}") as session:
        start_after_the_notice(session)
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn in the terminal")
        after_the_quit = quit_through_the_monitor(session)
        assert "serial" not in after_the_quit, (
            f"make run names a serial log for {chapter}, whose kernel writes nothing there: {after_the_quit!r}")


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
        after_the_quit = quit_through_the_monitor(session)
        assert f"The kernel's serial output is in {serial_log}" in after_the_quit, (
            f"make run does not name {serial_log} after quitting: {after_the_quit!r}")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [HELLO_CHAPTER])
def test_make_run_under_uefi_prints_the_serial_port_in_the_terminal(build, chapter: str):
    build.chapter(chapter)
    with make_run(f"CH={chapter[:2]}", "FIRMWARE=uefi") as session:
        expect(session, rb"serial output follows\. Quit with Ctrl-C\.", "the banner for UEFI")
        expect(session, rb"No VGA text mode, so Hello World! is not shown",
               "the kernel's line on serial that there is no text screen", timeout=UEFI_BOOT_TIMEOUT)
        session.sendintr()
        expect(session, QUIT_LINE, "make run's line that QEMU has quit")
        expect(session, pexpect.EOF, "QEMU to quit on Ctrl-C")


@pytest.mark.parametrize(("directory", "pytest_options", "make_options"), [
    ("05-cpu-exceptions", "--chapter 05", "CH=05"),
    ("harness-fixtures", "--chapter NN", "CH=NN"),
    ("ubsan/05-cpu-exceptions", "--chapter 05 --ubsan", "CH=05 UBSAN=1"),
])
def test_make_run_says_when_the_kernel_triple_faulted(build, tmp_path, directory: str, pytest_options: str,
                                                      make_options: str):
    """-no-reboot ends QEMU at the reset, with the status of a quit, and the
    terminal gets its own screen back: without a word the kernel would
    seem to vanish. The hints name the chapter the ISO was built for, by
    its directory, as make run's build/<chapter>/kernel.iso, and the UBSan
    build of make run UBSAN=1 (build/ubsan/<chapter>/), whose tests are
    pytest's --ubsan (conftest.py)."""
    with run_script(copy_of(build.fixtures() / "triple_fault.iso", tmp_path / directory)) as session:
        start_after_the_notice(session)
        expect(session, TRIPLE_FAULT_LINE, "make run's line that the kernel triple-faulted")
        expect(session, rb"pytest harness ([^\r\n]*)\r?\n.*?make gdb ([^\r\n]*)\r?\n",
               "the hint of the commands that look closer")
        hinted = tuple(group.decode().strip() for group in session.match.groups())
        assert hinted == (pytest_options, make_options), (
            f"the hints give pytest {hinted[0]!r} and make gdb {hinted[1]!r}, "
            f"not {pytest_options!r} and {make_options!r}, for {directory}/kernel.iso")
        expect(session, pexpect.EOF, "make run to end")
        session.close()
        assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after a triple fault"


@pytest.mark.parametrize(("fixture", "line", "what"), [
    pytest.param("reset", RESET_LINE, "the kernel reset the machine (keyboard controller)", id="reset"),
    pytest.param("power_off", POWER_OFF_LINE, "the kernel turned the machine off (ACPI)", id="power_off"),
])
def test_make_run_says_when_the_kernel_ended_the_machine(build, tmp_path, fixture: str, line: bytes, what: str):
    """A reset the kernel asks for ends QEMU under -no-reboot with status 0,
    as a triple fault and a quit do, and so does a power-off: neither is a
    triple fault, and the student did not quit."""
    with run_script(copy_of(build.fixtures() / f"{fixture}.iso", tmp_path)) as session:
        start_after_the_notice(session)
        expect(session, line, f"make run's line that {what}")
        expect(session, pexpect.EOF, "make run to end")
        said = shown(session)
        for wrong in ("triple-faulted", "has quit"):
            assert wrong not in said, f"make run says {wrong!r} when {what}: {said[-500:]!r}"
        session.close()
        assert session.exitstatus == 0, f"make run exited with {session.exitstatus} when {what}"


def test_make_run_says_when_the_monitor_reset_the_machine(build, tmp_path):
    """system_reset, typed in QEMU's monitor (Esc 2, where the book sends
    students to read registers), ends QEMU under -no-reboot as a reset the
    kernel asks for does, and QEMU's log read the same: make run blamed the
    kernel. It must name the monitor's command."""
    build.chapter(HELLO_CHAPTER)
    with run_script(copy_of(chapter_build(HELLO_CHAPTER) / "kernel.iso", tmp_path)) as session:
        start_after_the_notice(session)
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn in the terminal")
        session.send(b"\x1b2")
        expect(session, rb"\(qemu\)", "the QEMU monitor's prompt after Esc 2")
        session.sendline(b"system_reset")
        expect(session, rb"QEMU stopped: system_reset, typed in QEMU's monitor, reset the machine\.",
               "make run's line that the monitor reset the machine")
        expect(session, pexpect.EOF, "make run to end")
        assert "the kernel reset" not in shown(session), f"make run blames the kernel: {shown(session)[-500:]!r}"
        session.close()
        assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after system_reset"


def test_make_run_says_how_the_kernel_exited(build, tmp_path):
    with run_script(copy_of(build.fixtures() / "exit_success.iso", tmp_path)) as session:
        start_after_the_notice(session)
        # The fixture writes 0x10, which QEMU turns into (0x10 << 1) | 1.
        expect(session, rb"QEMU stopped: the kernel wrote 0x10 to port 0xf4 \(isa-debug-exit\), "
                        rb"which ends QEMU with status 33\.", "make run's line on the kernel's exit")
        assert b"triple-faulted" not in session.before, f"make run speaks of a triple fault: {shown(session)[-500:]!r}"
        expect(session, pexpect.EOF, "make run to end")
        session.close()
        # The line said it all: no "make: *** Error 33" after it.
        assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after the kernel's exit"


def test_make_run_says_when_the_kernel_wrote_0_to_the_exit_port(build, tmp_path):
    """A kernel that writes 0 to isa-debug-exit (an exit code left at zero)
    ends QEMU with status 1, which QEMU's own errors give too: make run
    said nothing, and make added "Error 1". The machine ran and QEMU
    printed no error, so make run must name the kernel's write. The
    kernel: the exit_success fixture with its code, 0x10, made 0."""
    fixture = (build.fixtures() / "exit_success.elf").read_bytes()
    # qemu_exit.inc's mov dx, 0xf4 and mov eax, CODE, as NASM assembles them.
    exit_with = {code: bytes.fromhex(f"66baf400b8{code:02x}000000") for code in (0x10, 0)}
    assert fixture.count(exit_with[0x10]) == 1, "exit_success.elf no longer exits as qemu_exit.inc did"
    elf = tmp_path / "kernel.elf"
    elf.write_bytes(fixture.replace(exit_with[0x10], exit_with[0]))
    iso = tmp_path / "kernel.iso"
    subprocess.run([str(REPOSITORY / "common" / "make-iso.sh"), "multiboot", str(elf), str(iso), "exit with 0"],
                   check=True, capture_output=True)
    with run_script(iso) as session:
        start_after_the_notice(session)
        expect(session, rb"QEMU stopped: the kernel wrote 0 to port 0xf4 \(isa-debug-exit\), "
                        rb"which ends QEMU with status 1\.", "make run's line on the kernel's exit")
        expect(session, pexpect.EOF, "make run to end")
        session.close()
        assert session.exitstatus == 0, f"make run exited with {session.exitstatus} after the kernel's exit"


def test_make_run_shows_qemus_own_error(tmp_path):
    """QEMU's own errors end it with status 1 too, as the kernel's 0 does:
    there make run must show QEMU's message and fail, with no word of the
    kernel, which never ran. With an ISO that is not there."""
    with run_script(tmp_path / "missing" / "kernel.iso") as session:
        start_after_the_notice(session)
        expect(session, rb"qemu-system-x86_64: .*Could not open", "QEMU's message that the ISO is missing")
        expect(session, pexpect.EOF, "make run to end")
        assert "kernel wrote" not in shown(session), f"make run blames the kernel:\n{shown(session)}"
    assert session.exitstatus == 1, f"make run exited with {session.exitstatus}, not QEMU's 1"


def test_run_sh_without_qemu_names_the_missing_package(build, tmp_path):
    """common/run.sh started by hand, without make run's check of the
    packages, on a machine without QEMU: prlimit's status for a command it
    cannot find, 127, would read as a kernel that wrote 0x3f to
    isa-debug-exit. PATH holds every command of /usr/bin but QEMU."""
    path = commands_but(tmp_path / "bin", "qemu-system-x86_64")
    iso = build.chapter(HELLO_CHAPTER).iso()
    result = subprocess.run(["common/run.sh", str(iso)], cwd=REPOSITORY, env=os.environ | {"PATH": str(path)},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    said = result.stdout + result.stderr
    assert "kernel wrote" not in said, f"run.sh blames the kernel for a missing QEMU:\n{said}"
    assert "qemu-system-x86_64 is not installed" in result.stderr and "apt-get install qemu-system-x86" in \
        result.stderr, f"run.sh does not name the missing package:\n{said}"
    assert result.returncode != 0, f"run.sh without QEMU exited with {result.returncode}"


@pytest.mark.parametrize(("stop", "line"), [
    pytest.param(signal.SIGTERM, SIGNAL_FROM_OUTSIDE_LINE + rb"\s+Sent by process (\d+) ", id="kill"),
    pytest.param(signal.SIGKILL, KILLED_LINE, id="kill-9"),
])
def test_make_run_says_when_qemu_was_stopped_from_outside(build, tmp_path, stop: signal.Signals, line: bytes):
    """QEMU stopped from another terminal (kill PID, pkill
    qemu-system-x86_64) ends as a reset the kernel asks for does, as far as
    QEMU's log goes; and SIGKILL's status, 137, is what the kernel's 0x44
    written to isa-debug-exit gives. make run must name the signal, and
    its sender when QEMU could tell; and a QEMU killed amid its screen,
    which could not put the terminal back as it found it, must not leave
    it for the shell (no echo, no line endings)."""
    build.chapter(HELLO_CHAPTER)
    iso = copy_of(chapter_build(HELLO_CHAPTER) / "kernel.iso", tmp_path)
    # The terminal's settings before and after, as the next command finds them.
    settings = 'echo "terminal: $(stty -g)"'
    with in_terminal("bash", "-c", f'{settings}; common/run.sh "$1"; {settings}', "run.sh", str(iso),
                     terminal="xterm") as session:
        expect(session, TERMINAL_SETTINGS, "the terminal's settings before make run")
        before = session.match[1]
        start_after_the_notice(session)
        expect(session, rb"Hello World!", "the kernel's Hello World! drawn in the terminal")
        shown_before_the_kill = len(shown(session))
        os.kill(qemu_running_with(str(iso)), stop)
        expect(session, line, f"make run's line that {stop.name} stopped QEMU")
        assert (int(session.match[1]), session.match[2].decode()) == (stop.value, stop.name), (
            f"make run names signal {session.match[1].decode()} ({session.match[2].decode()}), not {stop.value}")
        if stop == signal.SIGTERM:
            assert int(session.match[3]) == os.getpid(), (
                f"make run names process {session.match[3].decode()} as the sender, not {os.getpid()}")
        expect(session, TERMINAL_SETTINGS, "the terminal's settings after make run")
        after = session.match[1]
        said = shown(session)[shown_before_the_kill:]
        for wrong in ("reset the machine", "isa-debug-exit", "has quit"):
            assert wrong not in said, f"make run says {wrong!r} when {stop.name} stopped QEMU: {said!r}"
        assert after == before, f"make run left the terminal's settings changed after {stop.name}"
        assert LEAVE_THE_SCREEN in said.encode("latin-1"), (
            f"make run left the terminal on the screen QEMU drew, after {stop.name}")
        # QEMU shows the cursor or hides it as the kernel's own is; killed, it
        # may leave it hidden.
        if stop == signal.SIGKILL:
            assert SHOW_THE_CURSOR in said.encode("latin-1"), "make run left the cursor hidden, after SIGKILL"
        expect(session, pexpect.EOF, "make run to end")


def test_make_run_keeps_the_serial_log_within_its_limit(build, tmp_path):
    """A kernel that prints on serial without end fills the disk with
    serial.log for as long as make run stays open (some 300 KB a second).
    The log must stop at its limit, with QEMU and the kernel running on
    (the kernel's exit must still come), and make run must say the log was
    cut. Here the limit is 4 KiB, and the kernel chapter 4's serial_flood,
    which prints 22 KB and exits with success."""
    limit = 4096
    iso = copy_of(build.chapter("04").iso("serial_flood"), tmp_path)
    with in_terminal("bash", "-c", f'SERIAL_LOG_LIMIT={limit} common/run.sh "$1"', "run.sh", str(iso),
                     terminal="xterm") as session:
        start_after_the_notice(session)
        expect(session, rb"It stops at 4\.0KiB, make run's limit: the kernel printed on, and the rest was lost\.",
               "make run's line that the serial log reached its limit")
        expect(session, rb"QEMU stopped: the kernel wrote 0x10 to port 0xf4",
               "the kernel's exit with success, after the log reached its limit")
        expect(session, pexpect.EOF, "make run to end")
    size = (tmp_path / "serial.log").stat().st_size
    assert size == limit, f"serial.log holds {size} bytes, where make run's limit was {limit}"
