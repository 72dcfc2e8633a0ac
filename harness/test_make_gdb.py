"""`make gdb CH=NN` works as the README promises: QEMU starts the chapter's
ISO halted, gdb attaches with the kernel's symbols, and the temporary
hardware breakpoint stops the CPU in kernel_main, at a line of its body in
main.cpp.

The session is driven as a student would drive it, through the make target
in a terminal: wait for the breakpoint, ask gdb where the CPU is, then
twice continue, interrupt with Ctrl-C and ask for a backtrace (Ctrl-C must
stop the guest, not end QEMU or make), kill the kernel and quit. QEMU's
messages must stay out of gdb's terminal. When the kernel ends the machine
(harness fixtures that triple-fault and reset), gdb says only "exited
normally": make gdb must say what happened, with a gdb built without Python
too, and name a signal that another program sent QEMU. A kernel without
kernel_main is told so and stops at its entry point; one that GRUB would
refuse ends make gdb at once. Each session gets its own port for QEMU's GDB
stub, so that two can run side by side. With --ubsan the session is `make
gdb UBSAN=1`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from chapters import CHAPTERS, all_chapters, chapter_build
from elf import ElfFile
from terminal import RESET_LINE, SIGNAL_FROM_OUTSIDE_LINE, TRIPLE_FAULT_LINE, expect, in_terminal, \
    make_in_terminal, qemu_running_with, shown, writes_the_serial_log_of

# A test of the project's commands: no --chapter selects it (conftest.py).
pytestmark = pytest.mark.commands

PROMPT = rb"\(gdb\) "
# How often Ctrl-C is typed before the test gives up: gdb may not yet wait
# for the guest when the first one comes, on a loaded machine. Each one
# comes a moment after the last (PAUSE, in seconds) and is given 2 s to
# stop the guest: a short pause, because the guest only halts meanwhile
# and the worker would sit idle; the next Ctrl-C makes up for a lost one.
INTERRUPTS = 5
PAUSE = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kernel_main_lines(chapter: str) -> range:
    """The lines of main.cpp from kernel_main's signature to its closing
    brace (the first line after it that is just `}`)."""
    lines = (CHAPTERS / chapter / "main.cpp").read_text().splitlines()
    start = next(number for number, line in enumerate(lines, start=1)
                 if re.match(r'extern "C" .*\bkernel_main\(', line))
    end = next(number for number, line in enumerate(lines, start=1) if number > start and line == "}")
    return range(start, end + 1)


def continue_then_interrupt(session, lap: int) -> None:
    """continue, then Ctrl-C until gdb reports the guest stopped."""
    __tracebackhide__ = True
    session.sendline(b"continue")
    expect(session, rb"Continuing\.", f"gdb to continue (lap {lap})")
    for _ in range(INTERRUPTS):
        time.sleep(PAUSE)
        session.sendintr()
        outcome = session.expect([rb"received signal SIGINT", pexpect.TIMEOUT, pexpect.EOF], timeout=2)
        if outcome == 0:
            break
        if outcome == 2:
            pytest.fail(f"make gdb ended on Ctrl-C (lap {lap}); the terminal showed:\n{shown(session)}")
    else:
        pytest.fail(f"Ctrl-C, typed {INTERRUPTS} times, did not stop the guest (lap {lap}); the terminal "
                    f"showed:\n{shown(session)}")
    expect(session, PROMPT, f"gdb's prompt after Ctrl-C (lap {lap})")


@pytest.mark.parametrize("chapter", [pytest.param(chapter, marks=writes_the_serial_log_of(chapter))
                                     for chapter in all_chapters()])
def test_make_gdb_stops_in_kernel_main(build, chapter: str):
    build.chapter(chapter)
    # TERM=dumb: gdb styles nothing, so the text is what the patterns see.
    with make_in_terminal("gdb", f"CH={chapter[:2]}", f"GDB_PORT={free_port()}", terminal="dumb") as session:
        expect(session, rb"Temporary breakpoint 1, (?:0x[0-9a-f]+ in )?kernel_main \(.*?\)\s+at (\S+):(\d+)",
               "gdb to stop at the breakpoint in kernel_main")
        file, line = session.match[1].decode(), int(session.match[2])
        body = kernel_main_lines(chapter)
        assert file == "main.cpp" and line in body, (
            f"gdb stopped at {file}:{line}, not in kernel_main's lines {body.start}-{body.stop - 1} of main.cpp")

        expect(session, PROMPT, "gdb's prompt")
        session.sendline(b"info symbol $pc")
        expect(session, PROMPT, "gdb's prompt after info symbol")
        where = session.before.decode("latin-1")
        assert re.search(r"^kernel_main(?: \+ \d+)? in section \.text", where, re.MULTILINE), (
            f"gdb does not place the CPU in kernel_main: {where.strip()}")

        for lap in (1, 2):
            continue_then_interrupt(session, lap)
            # A bound: without frame pointers gdb may unwind into garbage for long.
            session.sendline(b"bt 8")
            expect(session, PROMPT, f"gdb's prompt after bt (lap {lap})")
            assert re.search(rb"^#0 ", session.before, re.MULTILINE), (
                f"bt after Ctrl-C shows no frame: {session.before.decode('latin-1').strip()}")

        session.sendline(b"kill")
        expect(session, rb"Kill the program being debugged\? \(y or n\) ", "gdb to ask before it kills")
        session.sendline(b"y")
        expect(session, rb"\[Inferior 1 \(process \d+\) killed\]", "gdb to kill the kernel")
        expect(session, PROMPT, "gdb's prompt after kill")
        session.sendline(b"quit")
        expect(session, pexpect.EOF, "gdb and make gdb to end")
        assert "qemu-system" not in shown(session), f"QEMU's messages reached gdb's terminal:\n{shown(session)}"
    assert session.exitstatus == 0, f"make gdb exited with {session.exitstatus} after kill and quit"


def fixture_in_a_build_directory(build, tmp_path, fixture: str) -> Path:
    """A harness fixture's kernel as make gdb's script finds a chapter's,
    in a build directory of chapter 05 of the test's own."""
    directory = tmp_path / "05-cpu-exceptions"
    directory.mkdir()
    for suffix in ("iso", "elf"):
        shutil.copy(build.fixtures() / f"{fixture}.{suffix}", directory / f"kernel.{suffix}")
    return directory


@pytest.mark.parametrize(("stripped", "line"), [
    pytest.param(False, rb"make gdb: no kernel_main in \S+/kernel\.elf\.\r?\n"
                        rb"  The boot code calls it by that name: main\.cpp must define it, extern \"C\"\.",
                 id="renamed"),
    pytest.param(True, rb"make gdb: no symbols in \S+/kernel\.elf \(stripped\?\), so no kernel_main\.",
                 id="stripped"),
])
def test_make_gdb_without_kernel_main_stops_at_the_entry_point(build, tmp_path, stripped: bool, line: bytes):
    """A kernel whose ELF has no kernel_main (renamed in main.cpp and in
    the boot code alike, or linked without symbols): gdb asked "Make hw
    breakpoint pending on future shared library load?", which means
    nothing in a kernel, and the answer ran the kernel with no stop at all.
    make gdb must say what is missing, and stop at the kernel's entry
    point, where the session goes on (si steps). With a harness fixture
    (its entry point is _start, and nothing in it is called kernel_main),
    as it is and stripped of its symbols."""
    directory = fixture_in_a_build_directory(build, tmp_path, "triple_fault")
    elf = directory / "kernel.elf"
    if stripped:
        subprocess.run(["objcopy", "--strip-all", str(elf)], check=True)
    entry = ElfFile(elf).entry
    with in_terminal("common/gdb.sh", str(directory), str(free_port()), terminal="dumb") as session:
        expect(session, line, "make gdb's line that the ELF has no kernel_main")
        expect(session, rf"Stopping at the kernel's entry point, 0x{entry:x}, instead\.".encode(),
               "make gdb's line on where it stops instead")
        expect(session, rb"Temporary breakpoint 1, ", "gdb to stop at the entry point")
        expect(session, PROMPT, "gdb's prompt at the entry point")
        assert "pending" not in shown(session), f"gdb asks about a pending breakpoint:\n{shown(session)}"
        session.sendline(b"print/x $pc")
        expect(session, PROMPT, "gdb's prompt after print")
        assert re.search(rf"= 0x{entry:x}\b".encode(), session.before), (
            f"gdb stopped elsewhere than the entry point 0x{entry:x}: {session.before.decode('latin-1').strip()}")
        # GRUB's own code runs at 1 MiB too, before it loads the kernel: at
        # the kernel's entry, EAX holds the magic value of the loader's
        # hand-over (the fixture is a Multiboot 1 kernel).
        session.sendline(b"print/x $eax")
        expect(session, PROMPT, "gdb's prompt after print")
        assert re.search(rb"= 0x2badb002\b", session.before), (
            f"gdb stopped at 0x{entry:x} before GRUB handed over to the kernel: "
            f"{session.before.decode('latin-1').strip()}")
        session.sendline(b"si")
        expect(session, PROMPT, "gdb's prompt after si")
        session.sendline(b"kill")
        expect(session, rb"\(y or n\) ", "gdb to ask before it kills")
        session.sendline(b"y")
        expect(session, PROMPT, "gdb's prompt after kill")
        session.sendline(b"quit")
        expect(session, pexpect.EOF, "gdb and make gdb to end")
    assert session.exitstatus == 0, f"make gdb exited with {session.exitstatus} after kill and quit"


@pytest.mark.parametrize(("fixture", "boot_command", "header"), [
    pytest.param("no_multiboot_header", "multiboot", b"Multiboot", id="no-header"),
    # A Multiboot 1 kernel in an image whose grub.cfg loads it with
    # multiboot2, as chapters 02-06 do: a header GRUB would take from
    # another command is no header here.
    pytest.param("triple_fault", "multiboot2", b"Multiboot2", id="a-header-of-the-other-kind"),
])
def test_make_gdb_stops_at_once_on_a_kernel_grub_refuses(build, tmp_path, fixture: str, boot_command: str,
                                                         header: bytes):
    """A kernel without the Multiboot header that grub.cfg's command needs:
    GRUB refuses it, on a screen that make gdb does not show, and gdb
    waited at "Continuing." with no word of why (or stopped in GRUB's own
    code, which runs at 1 MiB too, as if in the kernel). make gdb must say
    so and end, before gdb starts."""
    directory = fixture_in_a_build_directory(build, tmp_path, fixture)
    subprocess.run([str(CHAPTERS.parent / "common" / "make-iso.sh"), boot_command, str(directory / "kernel.elf"),
                    str(directory / "kernel.iso"), "refused"], check=True, capture_output=True)
    with in_terminal("common/gdb.sh", str(directory), str(free_port()), terminal="dumb") as session:
        expect(session, rb"make gdb: GRUB would refuse \S+/kernel\.elf: it has no valid " + header
               + b" header, which grub.cfg's " + boot_command.encode() + rb" command needs\.",
               "make gdb's line that GRUB would refuse the kernel", timeout=10)
        expect(session, pexpect.EOF, "make gdb to end")
        assert "Reading symbols" not in shown(session), f"make gdb started gdb all the same:\n{shown(session)}"
    assert session.exitstatus != 0, "make gdb ended with status 0 on a kernel GRUB refuses"


def continue_from_the_entry_point_to_the_end(session: pexpect.spawn) -> None:
    """From gdb's first stop, at the entry point of a harness fixture,
    continues until the machine ends and gdb's prompt is back; what make gdb
    printed in between is in session.before."""
    __tracebackhide__ = True
    expect(session, rb"Temporary breakpoint 1, ", "gdb to stop at the entry point")
    expect(session, PROMPT, "gdb's prompt at the entry point")
    session.sendline(b"continue")
    expect(session, rb"\[Inferior 1 \(process \d+\) exited normally\]", "gdb to see the machine end")
    expect(session, PROMPT, "gdb's prompt after the machine ended")


@pytest.mark.parametrize(("fixture", "line", "what"), [
    pytest.param("triple_fault", TRIPLE_FAULT_LINE + rb"\s+Which exceptions: \S+ -m pytest harness --chapter 05\s",
                 "the kernel triple-faulted, with the command that names the exceptions", id="triple_fault"),
    pytest.param("reset", RESET_LINE, "the kernel reset the machine", id="reset"),
])
def test_make_gdb_says_when_the_kernel_ended_the_machine(build, tmp_path, fixture: str, line: bytes, what: str):
    """A triple fault, or a reset the kernel asks for, ends QEMU under
    -no-reboot, and gdb says of both only "exited normally": make gdb must
    say what happened, in gdb's terminal, before gdb's prompt. Through make
    gdb's script, with a harness fixture (no kernel_main: gdb stops at its
    entry point first) in a build directory of chapter 05."""
    directory = fixture_in_a_build_directory(build, tmp_path, fixture)
    with in_terminal("common/gdb.sh", str(directory), str(free_port()), terminal="dumb") as session:
        continue_from_the_entry_point_to_the_end(session)
        assert re.search(line, session.before), (
            f"make gdb does not say that {what}; the terminal showed:\n{shown(session)[-1500:]}")
        session.sendline(b"quit")
        expect(session, pexpect.EOF, "gdb and make gdb to end")
    assert session.exitstatus == 0, f"make gdb exited with {session.exitstatus} after quit"


# gdb as built without Python, played: each python command of its command
# line gets the answer such a gdb gives, and a file of commands given with
# -x that holds one is left out (such a gdb stops reading it there), then
# the real gdb (REAL_GDB) runs.
GDB_WITHOUT_PYTHON = """#!/usr/bin/env bash
set -eu
arguments=() previous=
for argument in "$@"; do
    if [[ $argument == python* ]]; then
        argument="echo Python scripting is not supported in this copy of GDB.\\n"
    elif [ "$previous" = -x ] && grep -q '^ *python' "$argument"; then
        argument=/dev/null
    fi
    arguments+=("$argument") previous=$argument
done
exec REAL_GDB "${arguments[@]}"
"""


def test_make_gdb_names_a_triple_fault_with_a_gdb_without_python(build, tmp_path):
    """Some gdbs are built without Python, and answer every python command
    with "Python scripting is not supported in this copy of GDB.": make
    gdb's line on how QEMU ended must not need it. Played by a gdb first on
    PATH (GDB_WITHOUT_PYTHON), with the triple_fault fixture."""
    stand_in = tmp_path / "bin" / "gdb"
    stand_in.parent.mkdir()
    stand_in.write_text(GDB_WITHOUT_PYTHON.replace("REAL_GDB", shlex.quote(shutil.which("gdb"))))
    stand_in.chmod(0o755)
    directory = fixture_in_a_build_directory(build, tmp_path, "triple_fault")
    with in_terminal("common/gdb.sh", str(directory), str(free_port()), terminal="dumb",
                     path_first=stand_in.parent) as session:
        continue_from_the_entry_point_to_the_end(session)
        assert re.search(TRIPLE_FAULT_LINE, session.before), (
            f"make gdb does not name the triple fault with a gdb without Python; the terminal "
            f"showed:\n{shown(session)[-1500:]}")
        session.sendline(b"quit")
        expect(session, pexpect.EOF, "gdb and make gdb to end")


def test_make_gdb_says_when_qemu_was_stopped_from_outside(build, tmp_path):
    """QEMU stopped from another terminal (kill PID, pkill
    qemu-system-x86_64) while the kernel runs: gdb says "exited normally",
    and QEMU's log reads as if the kernel had reset the machine. make gdb
    must name the signal and its sender, from the line QEMU writes into
    its log. Through make gdb's script, with chapter 02's kernel in a
    directory of the test's own (QEMU's log and serial port go there)."""
    chapter = "02-minimal-kernel"
    build.chapter(chapter)
    directory = tmp_path / chapter
    directory.mkdir()
    for name in ("kernel.iso", "kernel.elf"):
        shutil.copy(chapter_build(chapter) / name, directory / name)
    port = free_port()
    with in_terminal("common/gdb.sh", str(directory), str(port), terminal="dumb") as session:
        expect(session, rb"Temporary breakpoint 1, .*?kernel_main", "gdb to stop at the breakpoint in kernel_main")
        expect(session, PROMPT, "gdb's prompt")
        session.sendline(b"continue")
        expect(session, rb"Continuing\.", "gdb to continue")
        time.sleep(PAUSE)  # gdb prints that line before it resumes the guest
        os.kill(qemu_running_with(f"tcp:127.0.0.1:{port}"), signal.SIGTERM)
        expect(session, SIGNAL_FROM_OUTSIDE_LINE + rb"\s+Sent by process (\d+) ",
               "make gdb's line that a signal from outside stopped QEMU")
        named = (int(session.match[1]), session.match[2].decode(), int(session.match[3]))
        assert named == (signal.SIGTERM.value, signal.SIGTERM.name, os.getpid()), (
            f"make gdb names signal {named[0]} ({named[1]}) from process {named[2]}, "
            f"not SIGTERM from {os.getpid()}")
        expect(session, PROMPT, "gdb's prompt after QEMU was stopped")
        assert b"reset the machine" not in session.before, (
            f"make gdb says the kernel reset the machine:\n{shown(session)[-1500:]}")
        session.sendline(b"quit")
        expect(session, pexpect.EOF, "gdb and make gdb to end")
    assert session.exitstatus == 0, f"make gdb exited with {session.exitstatus} after quit"


@writes_the_serial_log_of(all_chapters()[-1])
def test_make_gdb_says_when_its_port_is_taken(build):
    """A second make gdb on the same port, or a QEMU left running: QEMU
    cannot listen and ends at once. Its message must reach the terminal,
    and make gdb end, rather than gdb wait for a stub that is not there
    while the reason sits in qemu.log."""
    chapter = all_chapters()[-1]
    build.chapter(chapter)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with make_in_terminal("gdb", f"CH={chapter[:2]}", f"GDB_PORT={port}", terminal="dumb") as session:
            expect(session, rb"Address already in use", "QEMU's message that the port is taken", timeout=15)
            expect(session, rf"port {port} is taken .*GDB_PORT=N picks another".encode(),
                   "make gdb's hint of another port")
            expect(session, pexpect.EOF, "make gdb to end")
    assert session.exitstatus != 0, "make gdb ended with status 0 when QEMU could not start"
