"""Boots a kernel in QEMU and watches it until it reaches a verdict.

A Machine is one boot: QEMU under TCG with no display, the kernel's serial
port connected to the harness through pexpect (a pty), and QMP on a unix
socket in the machine's own temporary directory, so that parallel tests
share nothing. It can wait for the kernel to exit, to halt in a named
function or to print a pattern, and when what it waited for does not come,
it works out what happened instead and raises a KernelFailure saying so.

    machine = Machine(Path("build/02-minimal-kernel/kernel.iso"))
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_text(0, 0, "Hello World!", attribute=0x0a)
    machine.close()

In tests, take machines from the `boot` fixture (conftest.py): it closes
them and keeps their logs when the test fails.
"""

from __future__ import annotations

import atexit
import codecs
import ctypes
import os
import re
import shutil
import signal
import tempfile
import time
import weakref
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import pexpect

import host
import interrupt_log
from elf import ElfFile, Symbol
from isos import iso_with_command_line
from qmp import QmpConnection, QmpError
from registers import Registers
from screen import ADDRESS as SCREEN_ADDRESS, SIZE as SCREEN_SIZE, Screen
from screenshot import ppm_to_png
from verdict import KernelFailure, Verdict

# isa-debug-exit turns the value v a kernel writes to its port into QEMU's
# exit status (v << 1) | 1. The kernels of chapter 4 on write 0x10 for
# success and 0x11 for failure. A triple fault under -no-reboot exits with
# status 0, so 0 is never a pass.
EXIT_SUCCESS = (0x10 << 1) | 1  # 33
EXIT_FAILURE = (0x11 << 1) | 1  # 35

# The machine of common/host/qemu-machine.args, which make run and make gdb
# boot too, with no display: the harness reads the screen from memory.
MACHINE_ARGS = (*host.MACHINE_ARGS, "-display", "none")
FIRMWARES = ("bios", "uefi")

# How an ISO reaches the machine: as a CD-ROM (El Torito, the default), as
# a raw IDE hard disk, or as a USB stick (a USB mass-storage device on an
# xHCI controller). The last two boot only a hybrid image, one with an MBR
# beside the ISO 9660 file system, as one written to a real disk or stick
# would. snapshot=on sends the guest's writes to a temporary file, so the
# ISO is never changed (an IDE hard disk cannot be read-only); bootindex
# puts the disk before the CD-ROM that qemu-machine.args names.
ATTACHMENTS = {
    "cdrom": lambda image: ["-cdrom", image],
    "ide": lambda image: ["-drive", f"file={image},format=raw,if=none,id=disk,snapshot=on",
                          "-device", "ide-hd,drive=disk,bootindex=0"],
    "usb": lambda image: ["-device", "qemu-xhci",
                          "-drive", f"file={image},format=raw,if=none,id=stick,snapshot=on",
                          "-device", "usb-storage,drive=stick,bootindex=0"],
}

# Under TCG, OVMF takes some 4 s of CPU time to reach GRUB, where SeaBIOS
# takes a tenth of one: a UEFI boot's timeout has this much more.
UEFI_FIRMWARE_ALLOWANCE = 10.0

# GRUB under UEFI draws its screen through the firmware's console, which
# OVMF sends to the serial port with terminal escape sequences.
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]")

# QEMU's -kernel finds a Multiboot 1 header in an ELF32's first 8 KiB.
MULTIBOOT1_MAGIC = (0x1BADB002).to_bytes(4, "little")
MULTIBOOT1_SEARCH_LIMIT = 8192

DEFAULT_TIMEOUT = 10.0  # seconds of QEMU CPU time for a whole boot

# A timeout counts the CPU time QEMU used, so that a loaded machine (a
# parallel test run) gives every boot the same amount of emulated work. A
# guest that halts with interrupts on uses no CPU time, so wall-clock time
# is capped too, at this multiple of the timeout.
WALL_CLOCK_ALLOWANCE = 3.0

# A kernel whose exception handler returns to the faulting instruction
# takes the same exception forever, and QEMU logs each one: some 20 MB a
# second. Once the log passes LOOP_CHECK_SIZE, its end is searched for the
# same exception at the same place again and again; whatever the exceptions,
# the boot is stopped when the log reaches QEMU_LOG_LIMIT.
LOOP_CHECK_SIZE = 1024 * 1024
QEMU_LOG_LIMIT = 16 * 1024 * 1024
LOG_TAIL_BYTES = 256 * 1024  # enough of the log's end to see a loop in

POLL_INTERVAL = 0.01  # seconds between looks at serial, QMP and registers
SLOW_CHECK_INTERVAL = 0.25  # seconds between looks at GRUB's screen and the log's end
LATE_OUTPUT_WAIT = 0.05  # read this long after a verdict for late output

# How a kernel announces a panic: a line that starts with "panic" or
# "kernel panic" in any case (perhaps after "#", a KTAP diagnostic) followed
# by ":", "!", "-", "at" or "in": "PANIC at vga.cpp:42: ...", "panic: ...".
PANIC_LINE = re.compile(r"^[#*!\s]*(?:kernel\s+)?panic(?:ked)?(?:\s*[:!-]|\s+(?:at|in)\b).*$",
                        re.IGNORECASE | re.MULTILINE)

# What the undefined behaviour sanitizer of a kernel built with UBSAN=1
# (common/ubsan.cpp) reports, in a panic's message:
# "undefined behaviour at tests/x.cpp:12:9: signed integer overflow: ...".
UNDEFINED_BEHAVIOUR = re.compile(
    r"undefined behaviour at (?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+): (?P<kind>[^:\n]+)")

# A failed test in KTAP output: "not ok 3 name" (perhaps with "# SKIP ...").
KTAP_FAILED_TEST = re.compile(r"^\s*not ok \d+ (.*?)\s*$", re.MULTILINE)

# What GRUB says when it refuses a kernel, in words a student can act on.
# Only errors after it announced the menu entry count: before that, GRUB
# complains of modules the slimmed-down ISO leaves out, and boots on.
GRUB_BOOTING_LINE = re.compile(r"^\s*Booting `", re.MULTILINE)
GRUB_ERROR_LINE = re.compile(r"^error: (.+?)\.?$", re.MULTILINE)
GRUB_ERRORS_EXPLAINED = {
    "no multiboot header found":
        "GRUB found no Multiboot header in the kernel file: the header must come first "
        "(its section first in the linker script), Multiboot 2's within 32 KiB and 8-byte "
        "aligned, Multiboot 1's within 8 KiB, with a checksum that makes its fields sum "
        "to zero; `grub-file --is-x86-multiboot2 kernel.elf` checks it",
    "you need to load the kernel first":
        "GRUB could not load the kernel (see the error above it on the screen)",
    "invalid arch-dependent ELF magic":
        "the kernel file is not an x86 ELF executable GRUB can load",
    "unsupported tag":
        "the Multiboot2 header holds a tag GRUB does not know: check the tag types and sizes",
}

_Result = TypeVar("_Result")

# Every machine not yet closed, so that none outlives the harness even if a
# test forgets to close it (pytest's Ctrl-C handling runs atexit too).
_live_machines: weakref.WeakSet[Machine] = weakref.WeakSet()


def _close_live_machines() -> None:
    for machine in list(_live_machines):
        machine.close()


atexit.register(_close_live_machines)

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _prepare_qemu_process(stderr_path: str) -> None:
    """Runs in the child between fork and exec. The kernel kills QEMU when
    the harness dies, even by SIGKILL, which no finaliser survives; and
    QEMU's own messages go to a file instead of mixing with the serial
    output on the pty."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(stderr, 2)
    os.close(stderr)


def normalise_line_endings(text: str) -> tuple[str, str]:
    """Turns the pty's "\\r\\n" (and a guest's "\\r\\r\\n") into "\\n". Output
    comes in chunks, and whether carriage returns at the end of one end a
    line shows only with the next: they are returned apart, to be put in
    front of the next chunk. Returns (normalised text, carriage returns)."""
    pending = len(text) - len(text.rstrip("\r"))
    return re.sub(r"\r+\n", "\n", text[:len(text) - pending]), text[len(text) - pending:]


class Machine:
    """One boot of a kernel in QEMU.

    image: a GRUB ISO (booted with -cdrom) or a kernel ELF: a Multiboot 1
        ELF32 boots with -kernel (QEMU's own loader, ten times faster than
        GRUB), any other through a GRUB ISO the harness makes (isos.py).
    elf: the kernel's ELF file, for symbols; found beside an ISO by name.
    qemu_args: more QEMU arguments, e.g. ["-cpu", "qemu32"].
    command_line: the kernel's command line. Through GRUB, the machine
        boots an ISO made with it (see isos.py); with -kernel it is QEMU's
        -append.
    timeout: the hard limit of the whole boot, in seconds of QEMU CPU time;
        under UEFI, the firmware's start comes on top.
    firmware: "bios" (SeaBIOS, QEMU's default) or "uefi" (OVMF), which
        boots only GRUB ISOs.
    attach: how a GRUB ISO reaches the machine, one of ATTACHMENTS.
    """

    def __init__(self, image: Path | str, *, elf: Path | str | None = None,
                 qemu_args: Iterable[str] = (), command_line: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, name: str | None = None, firmware: str = "bios",
                 attach: str = "cdrom"):
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware must be one of {FIRMWARES}, not {firmware!r}")
        if attach not in ATTACHMENTS:
            raise ValueError(f"attach must be one of {tuple(ATTACHMENTS)}, not {attach!r}")
        self.attach = attach
        self.image = Path(image)
        self.name = name or self.image.name
        self.firmware = firmware
        self.timeout = timeout + (UEFI_FIRMWARE_ALLOWANCE if firmware == "uefi" else 0.0)
        self.elf = self._find_elf(self.image, elf)
        # Short and private: a unix socket path may be at most 107 bytes.
        self.work_dir = Path(tempfile.mkdtemp(prefix="kernel-boot-"))
        self.qemu_log_path = self.work_dir / "qemu.log"
        self.stderr_path = self.work_dir / "qemu-stderr.log"
        self.failure: KernelFailure | None = None
        self.exit_status: int | None = None
        self._serial_text = ""  # line endings normalised
        self._serial_carriage_returns = ""  # at the end of the output so far: "\r\n" or just "\r"?
        self._serial_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._serial_position = 0  # wait_for_serial matches after this
        self._qmp: QmpConnection | None = None
        self._process: pexpect.spawn | None = None
        self._cpu_seconds = 0.0
        self._post_mortem_taken = False
        self._post_mortem_screen: Screen | None = None
        self._post_mortem_registers: Registers | None = None
        _live_machines.add(self)
        try:
            self._start(list(qemu_args), command_line)
        except BaseException:
            self.close()
            raise

    # Starting and stopping.

    @staticmethod
    def _find_elf(image: Path, elf: Path | str | None) -> ElfFile | None:
        if elf is not None:
            return ElfFile(elf)
        if image.suffix == ".elf":
            return ElfFile(image)
        beside = image.with_suffix(".elf")
        return ElfFile(beside) if beside.exists() else None

    def _start(self, qemu_args: list[str], command_line: str | None) -> None:
        host.check()
        if not self.image.exists():
            raise KernelFailure(Verdict.BUILD_FAILED, f"{self.image} does not exist",
                                "build it first: make (or make build CH=NN)")
        socket_path = self.work_dir / "qmp.sock"
        argv = [
            host.QEMU,
            *MACHINE_ARGS,
            *self._firmware_arguments(),
            # A triple fault stops the machine instead of rebooting it, and
            # leaves it paused rather than gone, so that QMP can still read
            # its screen, registers and memory (a post-mortem).
            "-action", "shutdown=pause",
            "-serial", "stdio",
            "-monitor", "none",
            "-qmp", f"unix:{socket_path},server=on,wait=on",  # the guest starts once we are connected
            "-d", "int,cpu_reset", "-D", str(self.qemu_log_path),
            *self._boot_arguments(command_line),
            *qemu_args,
        ]
        self.command = argv
        self._started = time.monotonic()
        self._process = pexpect.spawn(argv[0], argv[1:], timeout=None, echo=False,
                                      preexec_fn=lambda: _prepare_qemu_process(str(self.stderr_path)))
        # pexpect pauses 0.1 s when closing, for processes that need a moment
        # to die; close() has made sure QEMU is gone by then.
        self._process.ptyproc.delayafterclose = 0
        self._qmp = self._connect(socket_path)

    def _firmware_arguments(self) -> list[str]:
        if self.firmware == "bios":
            return []
        host.check("uefi")
        if not self.through_grub:
            raise ValueError(f"{self.image.name}: QEMU's -kernel loader is a BIOS boot; UEFI boots GRUB ISOs")
        return list(host.UEFI_ARGS)

    def _boot_arguments(self, command_line: str | None) -> list[str]:
        attach = ATTACHMENTS[self.attach]
        if self.image.suffix == ".iso" and command_line is None:
            return attach(str(self.image))
        if self.through_grub:
            if self.elf is None:
                raise ValueError(f"no kernel ELF beside {self.image} to make an ISO with a command line")
            return attach(str(iso_with_command_line(self.elf, command_line or "")))
        if self.attach != "cdrom":
            raise ValueError(f"{self.image.name} boots with QEMU's -kernel loader: there is no disk to attach")
        return ["-kernel", str(self.image)] + (["-append", command_line] if command_line is not None else [])

    @property
    def through_grub(self) -> bool:
        """Booted from a GRUB ISO: an ISO given, or an ELF that QEMU's own
        loader cannot start (it loads only Multiboot 1 ELF32 kernels)."""
        return self.image.suffix == ".iso" or self.elf is not None and (
            self.elf.bits != 32 or MULTIBOOT1_MAGIC not in self.elf.data[:MULTIBOOT1_SEARCH_LIMIT])

    def _connect(self, socket_path: Path) -> QmpConnection:
        deadline = time.monotonic() + 10.0
        while not socket_path.exists():
            if not self._process.isalive() or time.monotonic() > deadline:
                self._process.close(force=True)
                raise KernelFailure(Verdict.FAIL, "QEMU did not start",
                                    "its messages follow; check the extra QEMU arguments",
                                    self.stderr_path.read_text(errors="replace"))
            time.sleep(0.002)
        return QmpConnection(socket_path)

    def close(self) -> None:
        """Stops QEMU (its whole process group: SIGTERM, then SIGKILL) and
        removes the machine's temporary directory. Safe to call twice."""
        _live_machines.discard(self)
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self._process is not None:
            self._stop_process()
            self._process = None
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _stop_process(self) -> None:
        process = self._process
        for stop_signal, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
            if not process.isalive():
                break
            try:
                os.killpg(process.pid, stop_signal)  # pexpect made QEMU a session (and group) leader
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while process.isalive() and time.monotonic() < deadline:
                time.sleep(0.005)
        process.close(force=True)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # What the machine shows.

    @property
    def serial_text(self) -> str:
        """Everything the kernel printed on serial so far, with the pty's
        "\\r\\n" (and a guest's "\\r\\r\\n") turned into "\\n"."""
        return self._serial_text

    @property
    def serial_lines(self) -> list[str]:
        return self.serial_text.splitlines()

    def last_serial_line(self) -> str | None:
        lines = [line for line in self.serial_lines if line.strip()]
        return lines[-1] if lines else None

    @property
    def running(self) -> bool:
        """QEMU is alive (it may be paused after a triple fault). When it has
        just exited, takes the rest of its output and its exit status."""
        if self.exit_status is not None or self._process is None:
            return False
        if self._process.isalive():
            return True
        self._read_to_end()
        return False

    @property
    def triple_faulted(self) -> bool:
        return self._reset_by_guest() or interrupt_log.has_triple_fault(self.qemu_log())

    def qemu_log(self) -> str:
        """QEMU's interrupt log: every exception delivered, and resets."""
        try:
            return self.qemu_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def exceptions(self) -> list[tuple[interrupt_log.RaisedException, interrupt_log.DeliveredInterrupt | None]]:
        """The CPU exceptions QEMU logged, in order (see interrupt_log)."""
        return interrupt_log.exceptions(self.qemu_log())

    def _monitor(self) -> QmpConnection:
        if not self.running or self._qmp is None:
            raise QmpError(f"{self.name}: QEMU has exited (status {self.exit_status}); "
                           "registers, memory and screen can be read only while it runs or is halted")
        return self._qmp

    def registers(self) -> Registers:
        return Registers(self._monitor().human_monitor("info registers"))

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest physical memory, read through QMP's pmemsave."""
        dump = self.work_dir / f"memory-{address:x}-{size}.bin"
        self._monitor().execute("pmemsave", val=address, size=size, filename=str(dump))
        data = dump.read_bytes()
        dump.unlink()
        return data

    def read_int(self, address: int, size: int = 4) -> int:
        """A little-endian unsigned integer from guest memory."""
        return int.from_bytes(self.read_memory(address, size), "little")

    def symbol(self, name: str) -> Symbol:
        if self.elf is None:
            raise ValueError(f"{self.name}: no ELF file to look symbols up in")
        return self.elf.symbol(name)

    def read_symbol(self, name: str, size: int | None = None) -> int:
        """The value of a global variable, by its (unmangled) name."""
        symbol = self.symbol(name)
        return self.read_int(symbol.value, size or symbol.size or 4)

    def describe_address(self, address: int) -> str | None:
        """`halt_forever+0x3`, or None where the ELF knows no function."""
        return self.elf.function_at(address) if self.elf is not None else None

    def screen(self) -> Screen:
        """The 80x25 VGA text screen, read from guest memory at 0xb8000."""
        return Screen(self.read_memory(SCREEN_ADDRESS, SCREEN_SIZE))

    def screenshot(self, png_path: Path | str) -> None:
        """What the screen shows, as a PNG (from QMP's screendump)."""
        ppm = self.work_dir / "screendump.ppm"
        self._monitor().execute("screendump", filename=str(ppm))
        Path(png_path).write_bytes(ppm_to_png(ppm.read_bytes()))
        ppm.unlink()

    # Waiting. Each wait returns what it waited for, or raises a
    # KernelFailure that says what happened instead. A wait's timeout
    # (default: what is left of the boot's) is in seconds of QEMU CPU time.

    def wait_for_exit(self, timeout: float | None = None) -> int:
        """Waits until QEMU exits; returns its exit status (33 when the
        kernel wrote 0x10 to isa-debug-exit, 35 for 0x11)."""
        __tracebackhide__ = True
        return self._wait_until(lambda: None if self.running else self.exit_status, "QEMU to exit", timeout,
                                expects_output=True)

    def expect_exit_success(self, timeout: float | None = None) -> None:
        """Waits until the kernel exits through isa-debug-exit with the
        success code 0x10; anything else fails with its diagnosis."""
        __tracebackhide__ = True
        if self.wait_for_exit(timeout) != EXIT_SUCCESS:
            raise self._fail(self._diagnose("the kernel to exit with success (0x10)"))

    def wait_for_serial(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> re.Match[str]:
        """Waits until the serial output, after the previous match, matches
        the regular expression; returns the match. (Like pexpect's expect:
        successive waits read the output in order.)"""
        __tracebackhide__ = True
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern

        def matched() -> re.Match[str] | None:
            match = regex.search(self.serial_text, self._serial_position)
            if match:
                self._serial_position = match.end()
            return match

        return self._wait_until(matched, f"serial output matching /{regex.pattern}/", timeout,
                                expects_output=True)

    def wait_until_halted_in(self, function: str, timeout: float | None = None) -> Registers:
        """Waits until the CPU is halted (HLT) with RIP inside the named
        function; returns the registers then. A halt elsewhere with
        interrupts off fails at once: nothing but an NMI could wake it."""
        __tracebackhide__ = True
        symbol = self.symbol(function)

        def halted_there() -> Registers | None:
            if not self.running:
                return None
            registers = self.registers()
            if not registers.halted:
                return None
            if symbol.contains(registers.rip) or (symbol.size == 0 and registers.rip == symbol.value):
                return registers
            if not registers.interrupts_enabled:
                raise self._fail(self._diagnose(f"the CPU to halt in {function}", expects_output=False,
                                                halted_at=registers, wanted_function=function))
            return None

        return self._wait_until(halted_there, f"the CPU to halt in {function}", timeout, expects_output=False,
                                halt_is_failure=False)

    def wait_until_halted(self, timeout: float | None = None) -> Registers:
        """Waits until the CPU is halted with interrupts off, wherever that
        is (an error path, say); returns the registers then."""
        __tracebackhide__ = True

        def halted_for_good() -> Registers | None:
            return self._halted_for_good() if self.running else None

        return self._wait_until(halted_for_good, "the CPU to halt", timeout, expects_output=False,
                                halt_is_failure=False)

    def wait_until_done(self, timeout: float | None = None) -> int | Registers:
        """Waits until the kernel is done either way a kernel can be: QEMU
        exited (returns the status) or the CPU halted for good (returns the
        registers)."""
        __tracebackhide__ = True

        def done() -> int | Registers | None:
            return self.exit_status if not self.running else self._halted_for_good()

        return self._wait_until(done, "the kernel to exit or halt", timeout, expects_output=False,
                                halt_is_failure=False)

    def wait_for_triple_fault(self, timeout: float | None = None) -> str:
        """For tests that expect one: waits for the reset; returns the
        description of the exceptions that led to it."""
        __tracebackhide__ = True
        self._wait_until(lambda: True if self._reset_by_guest() else None, "a triple fault", timeout,
                         expects_output=False, triple_fault_is_failure=False)
        return interrupt_log.describe_triple_fault(self.qemu_log(), self.describe_address)

    def _wait_until(self, condition: Callable[[], _Result | None], expecting: str, timeout: float | None,
                    *, expects_output: bool, triple_fault_is_failure: bool = True,
                    halt_is_failure: bool = True) -> _Result:
        """Polls until `condition` returns something (see _poll_until), and
        fails if the kernel reported undefined behaviour on the way: the
        report is a panic, and a panic may be just what the test waited for
        (a halt, or an exit after a test that should panic), but no test
        waits for undefined behaviour."""
        __tracebackhide__ = True
        result = self._poll_until(condition, expecting, timeout, expects_output=expects_output,
                                  triple_fault_is_failure=triple_fault_is_failure,
                                  halt_is_failure=halt_is_failure)
        if UNDEFINED_BEHAVIOUR.search(self.serial_text):
            raise self._fail(self._diagnose(expecting, expects_output=expects_output))
        return result

    def _poll_until(self, condition: Callable[[], _Result | None], expecting: str, timeout: float | None,
                    *, expects_output: bool, triple_fault_is_failure: bool,
                    halt_is_failure: bool) -> _Result:
        """Polls until `condition` returns something. Fails as soon as the
        kernel can no longer satisfy it: QEMU exited, the CPU reset (a
        triple fault), halted for good (unless the condition is about
        halts), GRUB refused the kernel, or the timeout ran out."""
        __tracebackhide__ = True
        if self.failure is not None:
            raise self.failure
        limit = self._time_left() if timeout is None else min(timeout, self._time_left())
        wall_start, cpu_start = time.monotonic(), self._qemu_cpu_seconds()
        next_slow_check = wall_start + SLOW_CHECK_INTERVAL
        while True:
            self._read_serial(POLL_INTERVAL)
            if triple_fault_is_failure and self._reset_by_guest():
                raise self._fail(self._diagnose(expecting))
            # Whether QEMU lives is asked before the condition: QEMU may exit
            # while the condition looks, and then the condition's answer is
            # about a machine that was still running.
            alive = self.running
            try:
                result = condition()
                halted = self._halted_for_good() if halt_is_failure and result is None and alive else None
            except QmpError:
                # QEMU exited while we asked it something (it closes QMP a
                # moment before its process ends): ask again, knowing that.
                if not self._exits_within(1.0):
                    raise
                alive, result, halted = False, condition(), None
            if result is not None:
                return result
            if not alive:
                raise self._fail(self._diagnose(expecting, expects_output=expects_output))
            if halted is not None:
                # What the kernel printed before it halted may still be on
                # its way through the pty: take it, and look again.
                self._read_serial(LATE_OUTPUT_WAIT)
                if (result := condition()) is not None:
                    return result
                raise self._fail(self._diagnose(expecting, expects_output=expects_output, halted_at=halted))
            now = time.monotonic()
            if now >= next_slow_check:
                next_slow_check = now + SLOW_CHECK_INTERVAL
                if self._boot_loader_error() is not None:
                    raise self._fail(self._diagnose(expecting))
                if self._qemu_log_size() > LOOP_CHECK_SIZE and self._exception_loop() is not None:
                    raise self._fail(self._diagnose(expecting, stopped_exception_loop=True))
            if self._qemu_log_size() > QEMU_LOG_LIMIT:
                raise self._fail(self._diagnose(expecting, stopped_exception_loop=True))
            cpu_used = self._qemu_cpu_seconds() - cpu_start
            if cpu_used >= limit or now - wall_start >= limit * WALL_CLOCK_ALLOWANCE:
                raise self._fail(self._diagnose(expecting, timed_out_after=round(cpu_used, 1),
                                                expects_output=expects_output))

    def _halted_for_good(self) -> Registers | None:
        """The registers, if the CPU is halted with interrupts off: only a
        non-maskable interrupt could wake it, and nothing sends one."""
        registers = self.registers()
        return registers if registers.halted and not registers.interrupts_enabled else None

    def _exits_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.running:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def _time_left(self) -> float:
        return max(0.0, self.timeout - self._qemu_cpu_seconds())

    def _qemu_cpu_seconds(self) -> float:
        """User and system time of QEMU so far (all its threads)."""
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self._cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, ProcessLookupError, AttributeError):
            pass  # QEMU has exited: keep the last figure
        return self._cpu_seconds

    def _qemu_log_size(self) -> int:
        try:
            return self.qemu_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _exception_loop(self) -> str | None:
        """`#UD (invalid opcode) at rip=... again and again`, if the log
        ends so."""
        try:
            with self.qemu_log_path.open("rb") as log:
                log.seek(max(0, self._qemu_log_size() - LOG_TAIL_BYTES))
                tail = log.read().decode(errors="replace")
        except FileNotFoundError:
            return None
        return interrupt_log.describe_exception_loop(tail, self.describe_address)

    def _reset_by_guest(self) -> bool:
        """QMP reported a reset the guest caused: with -no-reboot and
        shutdown=pause, a triple fault, and QEMU is now paused."""
        return self._qmp is not None and any(
            event["event"] == "SHUTDOWN" and event.get("data", {}).get("reason") == "guest-reset"
            for event in self._qmp.poll_events())

    def _read_serial(self, wait: float) -> None:
        """Takes what the kernel printed, waiting up to `wait` seconds for
        the first byte; notices when QEMU exits. Returns after `wait` even
        if a kernel prints without pause, so that timeouts stay checked."""
        if self._process is None or self.exit_status is not None:
            return
        deadline = time.monotonic() + wait
        try:
            chunk = self._process.read_nonblocking(65536, timeout=wait)
            while True:
                self._take_serial(chunk)
                if time.monotonic() > deadline:
                    return
                chunk = self._process.read_nonblocking(65536, timeout=0)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self._reap()

    def _read_to_end(self) -> None:
        """Once QEMU has exited: the rest of its output, and its status."""
        try:
            while True:
                self._take_serial(self._process.read_nonblocking(65536, timeout=0))
        except (pexpect.EOF, pexpect.TIMEOUT):
            self._reap()

    def _take_serial(self, chunk: bytes) -> None:
        text, self._serial_carriage_returns = normalise_line_endings(
            self._serial_carriage_returns + self._serial_decoder.decode(chunk))
        self._serial_text += text

    def _reap(self) -> None:
        deadline = time.monotonic() + 5.0
        while self._process.isalive() and time.monotonic() < deadline:
            time.sleep(0.002)
        if self._process.exitstatus is not None:
            self.exit_status = self._process.exitstatus
        else:
            self.exit_status = -(self._process.signalstatus or signal.SIGKILL)

    def elapsed(self) -> float:
        """Wall-clock seconds since QEMU started."""
        return time.monotonic() - self._started

    # Diagnosis: when the awaited thing did not come, what did.

    def _fail(self, failure: KernelFailure) -> KernelFailure:
        self.failure = failure
        return failure

    def _diagnose(self, expecting: str, *, expects_output: bool = True, timed_out_after: float = 0.0,
                  halted_at: Registers | None = None, wanted_function: str | None = None,
                  stopped_exception_loop: bool = False) -> KernelFailure:
        self._read_serial(LATE_OUTPUT_WAIT)
        self.capture_post_mortem()
        details = self._failure_details()
        last_line = self.last_serial_line()
        said = f"last serial line: {last_line!r}" if last_line else "no serial output"

        if self.triple_faulted:
            return KernelFailure(
                Verdict.TRIPLE_FAULT,
                interrupt_log.describe_triple_fault(self.qemu_log(), self.describe_address),
                "the first exception is the real fault (find its rip with `addr2line -e kernel.elf ADDRESS`); "
                "it became a triple fault because no handler could run: no IDT loaded, no gate for the "
                "vector, or no usable stack", details)

        exception_loop = self._exception_loop()
        if stopped_exception_loop or exception_loop and timed_out_after:
            if stopped_exception_loop:
                why_stopped = f"stopped after {self._qemu_log_size() / 2**20:.0f} MB of QEMU's interrupt log"
            else:
                why_stopped = f"timed out after {timed_out_after:g} s of QEMU CPU time waiting for {expecting}"
            return KernelFailure(
                Verdict.HANG,
                f"exception loop: {exception_loop or 'the CPU takes exception after exception'}; {why_stopped}",
                "an exception handler returns to the instruction that faulted, which faults again: "
                "a fault handler must remove the cause or not return", details)

        rejection = self._boot_loader_error()
        if rejection is not None:
            return KernelFailure(Verdict.BOOT_REJECTED, f"GRUB refused the kernel: {rejection[0]!r}",
                                 rejection[1], details)

        panic = self._panic_line()
        if panic is not None:
            return KernelFailure(Verdict.PANIC, f"kernel panic: {panic.strip()}",
                                 f"the panic message names the failed check; the test was waiting for {expecting}",
                                 details)

        if halted_at is not None:
            where = self._where(halted_at.rip)
            top_line = self._post_mortem_screen.lines()[0].strip() if self._post_mortem_screen else ""
            seen = f"; the screen's first line reads {top_line!r}" if top_line else ""
            if expects_output and not self.serial_text.strip():
                return KernelFailure(Verdict.NO_OUTPUT, f"nothing on serial, and the CPU halted for good at "
                                     f"{where} (the test waited for {expecting}){seen}",
                                     "does the kernel set up and write to COM1 (0x3f8) before it halts?", details)
            if wanted_function is not None:
                summary = f"the CPU halted at {where}, not in {wanted_function}{seen}"
            else:
                summary = f"the CPU halted for good at {where} while the test waited for {expecting}; {said}{seen}"
            return KernelFailure(Verdict.FAIL, summary,
                                 "an error path halts there, or the kernel stopped before it got that far", details)

        if self.exit_status is not None:
            return KernelFailure(Verdict.FAIL, self._describe_exit(expecting) + f"; {said}",
                                 "compare the serial output below with what the test expects", details)

        seconds = f"{timed_out_after:g} s"
        if expects_output and not self.serial_text.strip():
            return KernelFailure(Verdict.NO_OUTPUT,
                                 f"nothing on serial after {seconds} of QEMU CPU time (waiting for {expecting})",
                                 "did the kernel start, and does it set up and write to COM1 (0x3f8)? "
                                 "`make gdb CH=NN` shows whether the entry point is reached", details)
        where = ""
        if self.running:
            registers = self.registers()
            where = f"; the CPU is {'halted' if registers.halted else 'running'} at {self._where(registers.rip)}"
        return KernelFailure(Verdict.HANG,
                             f"timed out after {seconds} of QEMU CPU time waiting for {expecting}; {said}{where}",
                             "an endless loop, or a halt with nothing to wake it; the code after the last "
                             "line printed is the place to look", details)

    def _where(self, rip: int) -> str:
        location = self.describe_address(rip)
        return f"rip={rip:#x}" + (f" ({location})" if location else "")

    def _describe_exit(self, expecting: str) -> str:
        status = self.exit_status
        if status == EXIT_SUCCESS:
            return f"the kernel exited with success (isa-debug-exit 0x10) before {expecting}"
        if status == EXIT_FAILURE:
            failed = KTAP_FAILED_TEST.search(self.serial_text)
            first_failure = f"; first failed test: {failed.group(1)!r}" if failed else ""
            return f"the kernel reported failure (isa-debug-exit 0x11, QEMU status 35) while the test " \
                   f"waited for {expecting}{first_failure}"
        if status is not None and status < 0:
            return f"QEMU was killed by signal {-status}"
        if status == 0:
            return f"QEMU exited with status 0 (which is never a pass) while the test waited for {expecting}"
        if status % 2 == 1:
            return f"the kernel wrote {(status - 1) >> 1:#x} to isa-debug-exit (QEMU status {status})"
        return f"QEMU exited with status {status}: " + self.stderr_path.read_text(errors="replace").strip()

    def _panic_line(self) -> str | None:
        match = PANIC_LINE.search(self.serial_text)
        if match is None and self._post_mortem_screen is not None:
            match = PANIC_LINE.search(self._post_mortem_screen.text())
        return match.group(0) if match else None

    def _boot_loader_error(self) -> tuple[str, str] | None:
        """GRUB's complaint on the screen, and what it means, if any (for
        a kernel booted from an ISO). Under UEFI there is no text screen to
        read; GRUB's console is on serial."""
        if not self.through_grub or not self.running:
            return None
        if self.firmware == "uefi":
            text = TERMINAL_ESCAPE.sub("", self.serial_text).replace("\r", "")
        else:
            try:
                text = self.screen().text()
            except QmpError:
                return None
        booting = GRUB_BOOTING_LINE.search(text)
        match = GRUB_ERROR_LINE.search(text, booting.end()) if booting else None
        if match is None:
            return None
        message = match.group(1)
        explanation = next((meaning for known, meaning in GRUB_ERRORS_EXPLAINED.items() if known in message),
                           "GRUB's own message; the screen below shows it in full")
        return message, explanation

    def capture_post_mortem(self) -> None:
        """Keeps the screen, registers and a screenshot while QEMU still
        runs, for the failure message and the artifacts. Runs once."""
        if self._post_mortem_taken or not self.running:
            return
        self._post_mortem_taken = True
        try:
            self._post_mortem_screen = self.screen()
            self._post_mortem_registers = self.registers()
            self.screenshot(self.work_dir / "screen.png")
        except (QmpError, OSError):
            pass  # QEMU went away meanwhile: keep what was taken

    def _failure_details(self) -> str:
        parts = []
        lines = self.serial_lines
        if lines:
            shown = lines[-20:]
            heading = f"serial output (last {len(shown)} of {len(lines)} lines):" if len(lines) > 20 \
                else "serial output:"
            parts.append(heading + "\n" + "\n".join("  " + line for line in shown))
        if self._post_mortem_screen is not None and not self._post_mortem_screen.is_blank():
            parts.append("screen:\n" + self._post_mortem_screen.render())
        return "\n\n".join(parts)

    # Artifacts.

    def save_artifacts(self, directory: Path, failure_text: str | None = None) -> None:
        """Keeps the evidence of a failed boot: serial.log, qemu.log,
        screen.png and screen.txt, registers.txt, verdict.txt."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "serial.log").write_text(self.serial_text)
        for kept in (self.qemu_log_path, self.work_dir / "screen.png"):
            if kept.exists():
                shutil.copy(kept, directory / kept.name)
        stderr = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        if stderr.strip():
            (directory / "qemu-stderr.log").write_text(stderr)
        if self._post_mortem_screen is not None:
            (directory / "screen.txt").write_text(self._post_mortem_screen.render() + "\n")
        if self._post_mortem_registers is not None:
            (directory / "registers.txt").write_text(self._post_mortem_registers.text)
        text = self.failure.describe() if self.failure is not None else failure_text or ""
        if not (directory / "screen.png").exists():
            text += f"\n\nNo screenshot: QEMU had exited (status {self.exit_status}) when the test failed."
        (directory / "verdict.txt").write_text(f"{text}\n\ncommand: {' '.join(self.command)}\n")
