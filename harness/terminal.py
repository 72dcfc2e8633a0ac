"""A make target typed into a pseudo-terminal, as a student types it
(test_make_run.py, test_make_gdb.py): what QEMU's curses screen and gdb's
prompt need, and what the rest of the suite, which runs QEMU itself, never
sees.

    session = make_in_terminal("run", "CH=02", terminal="xterm")
    expect(session, rb"Hello World!", "the kernel's Hello World!")

A wait that fails names what it waited for and shows the end of what the
terminal printed.
"""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pexpect
import pytest

from chapters import REPOSITORY, make_variables

# GRUB and the kernel show their screen within a second or two under TCG;
# OVMF adds some 5 s. A loaded machine gets plenty more.
SESSION_TIMEOUT = 30
SHOWN_ON_FAILURE = 2000  # characters from the end of the terminal's output

# The first line make run and make gdb print of how QEMU ended
# (common/qemu-ending.sh), as patterns.
TRIPLE_FAULT_LINE = rb"QEMU stopped: the kernel triple-faulted, and the CPU reset itself\."
RESET_LINE = rb"QEMU stopped: the kernel reset the machine, with no triple fault\."
POWER_OFF_LINE = rb"QEMU stopped: the kernel turned the machine off \(ACPI\)\."
QUIT_LINE = rb"QEMU has quit, with no triple fault\."
# A signal from another program, which QEMU names (kill PID, pkill), and
# one it cannot catch (kill -9), which run.sh learns of from bash.
SIGNAL_FROM_OUTSIDE_LINE = rb"QEMU stopped: signal (\d+) \((SIG\w+)\) came from outside, not from the kernel\."
KILLED_LINE = rb"QEMU stopped: signal (\d+) \((SIG\w+)\) killed it, not the kernel\."


def make_environment() -> dict[str, str]:
    """This environment as a student's shell has it, for a make the tests
    start: without what the make running `make test` passes down to its
    children (MAKEFLAGS with a jobserver this make cannot reach, which
    makes it warn; MAKELEVEL, which changes what the Makefile does) and
    without V, which would change what make prints."""
    return {name: value for name, value in os.environ.items()
            if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "V")}


def commands_but(folder: Path, *left_out: str) -> Path:
    """`folder`, made to hold every command of /usr/bin but those left out
    (as symbolic links), for a PATH of a machine that lacks them."""
    folder.mkdir()
    for command in Path("/usr/bin").iterdir():
        if command.name not in left_out:
            (folder / command.name).symlink_to(command)
    return folder


def make_in_terminal(target: str, *arguments: str, terminal: str, ci: bool = False) -> pexpect.spawn:
    """`make TARGET ARGUMENTS` (UBSAN=1 with --ubsan) in an 80x25 terminal
    of the given TERM type, with no window system, and outside CI (as on a
    student's machine over SSH) unless ci is set (CI=true)."""
    return in_terminal("make", "--no-print-directory", target, *arguments, *make_variables(),
                       terminal=terminal, ci=ci)


def in_terminal(program: str, *arguments: str, terminal: str, ci: bool = False,
                path_first: Path | None = None) -> pexpect.spawn:
    """A program of the repository (a make target's own script, to give it
    a kernel no make target builds) in the terminal make_in_terminal
    describes; with path_first, that directory's programs are found before
    the system's (a stand-in for one of them)."""
    environment = {name: value for name, value in make_environment().items()
                   if name not in ("DISPLAY", "WAYLAND_DISPLAY", "CI")} | {"TERM": terminal}
    if path_first is not None:
        environment["PATH"] = f"{path_first}{os.pathsep}{environment['PATH']}"
    if ci:
        environment["CI"] = "true"
    session = pexpect.spawn(program, list(arguments), cwd=REPOSITORY, env=environment, dimensions=(25, 80),
                            timeout=SESSION_TIMEOUT, preexec_fn=as_a_terminal_delivers_signals)
    session.logfile_read = io.BytesIO()  # for shown()
    return session


def as_a_terminal_delivers_signals() -> None:
    """Ctrl-C and Ctrl-\\ interrupt the programs of a student's terminal.
    A suite started in the background of a shell without job control
    (`make bench &`, nohup, some CI runners) runs with SIGINT and SIGQUIT
    ignored, which every program it starts inherits; and a shell script
    cannot trap a signal ignored when it started, so run.sh would never
    hear of a Ctrl-C that QEMU still obeys. And Python ignores SIGXFSZ,
    which a student's shell does not: a program past its file-size limit
    would fail a write here where it is killed there."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def writes_the_serial_log_of(chapter: str) -> pytest.MarkDecorator:
    """For a test whose make target has QEMU write the chapter's
    build/<chapter>/serial.log (make run, make gdb): QEMU empties that file
    as it starts, so a make gdb starting beside a make run of the same
    chapter would empty the log make run is about to name. Under xdist,
    such tests of one chapter run one after the other, on one worker."""
    return pytest.mark.xdist_group(f"serial-log-{chapter}")


def shown(session: pexpect.spawn) -> str:
    """Everything the terminal has shown so far."""
    return session.logfile_read.getvalue().decode("latin-1")


def expect(session: pexpect.spawn, pattern: bytes | type[pexpect.EOF], what: str,
           timeout: float = SESSION_TIMEOUT) -> None:
    """Waits for pattern (a regular expression, or pexpect.EOF for the end
    of the session); fails with `what` if the session ends or goes quiet
    for `timeout` seconds first. session.match holds the match."""
    __tracebackhide__ = True
    outcomes = [pattern, pexpect.TIMEOUT] if pattern is pexpect.EOF else [pattern, pexpect.EOF, pexpect.TIMEOUT]
    index = session.expect(outcomes, timeout=timeout)
    if index != 0:
        ended = "the session ended" if outcomes[index] is pexpect.EOF else f"nothing came in {timeout} s"
        seen = session.before.decode("latin-1")[-SHOWN_ON_FAILURE:]
        pytest.fail(f"expected {what}, but {ended}; the terminal showed "
                    f"(last {SHOWN_ON_FAILURE} characters):\n{seen}")


def qemu_running_with(argument: str) -> int:
    """The process id of the QEMU whose command line holds `argument` (an
    ISO or a port of the test's own), to stop it as another terminal
    would: make run's QEMU is its script's child, make gdb's a daemon."""
    __tracebackhide__ = True
    for process in (entry for entry in Path("/proc").iterdir() if entry.name.isdigit()):
        try:
            words = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended meanwhile
            continue
        if words[0].endswith(b"qemu-system-x86_64") and argument.encode() in words:
            return int(process.name)
    pytest.fail(f"no QEMU runs with {argument} on its command line")
