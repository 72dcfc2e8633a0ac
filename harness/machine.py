"""Boots a kernel in QEMU and watches it until it reaches a verdict.

A Machine is one boot: QEMU under TCG with no display (qemu_process.py),
the kernel's serial port read through a pipe (serial_output.py), QMP on a
unix socket in the machine's own temporary directory (qmp.py), so that
parallel tests share nothing, and a watchdog that holds the boot to its
limits (boot_limits.py). It can wait for the kernel to exit, to halt in a
named function or to print a pattern; when what it waited for does not
come, it gathers the Evidence and lets diagnosis.py say what happened
instead, as a KernelFailure.

    machine = Machine(Path("build/02-minimal-kernel/kernel.iso"))
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_text(0, 0, "Hello World!", attribute=0x0a)
    machine.close()

In tests, take machines from the `boot` fixture (conftest.py): it closes
them and keeps their logs when the test fails.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import boot_artifacts
import host
import interrupt_log
import run_timings
import scratch
from boot_limits import (INTERRUPT_LOG_LIMIT, SERIAL_LIMIT, WALL_CLOCK_ALLOWANCE, LimitReached, Watchdog,
                         file_size, mebibytes, read_head_and_tail, read_tail)
from chapters import artifacts
# The exit statuses and the sanitizer's report are the diagnosis's facts;
# tests compare with them as machine.EXIT_SUCCESS and so on.
from diagnosis import (EXIT_FAILURE, EXIT_SUCCESS, GRUB_ERRORS_EXPLAINED, UNDEFINED_BEHAVIOUR,  # noqa: F401
                       Evidence, boot_loader_error, diagnose)
from elf import ElfFile, Symbol
from isos import iso_with_command_line
from ppm import ppm_to_png
from qemu_process import QemuProcess
from qmp import QmpConnection, QmpError
from registers import Registers
from serial_output import SerialOutput
from verdict import KernelFailure, Verdict
from vga_screen import ADDRESS as SCREEN_ADDRESS, SIZE as SCREEN_SIZE, Screen

# The machine of common/host/qemu-machine.args, which make run and make gdb
# boot too, with no display: the harness reads the screen from memory.
MACHINE_ARGS = (*host.MACHINE_ARGS, "-display", "none")
FIRMWARES = ("bios", "uefi")

# How a disk image reaches the machine: as a CD-ROM (El Torito, how every
# ISO boots by default), as a raw IDE hard disk, or as a USB stick (a USB
# mass-storage device on an xHCI controller). The last two boot only a
# hybrid image, with an MBR or a GPT beside the ISO 9660 file system, as
# one written to a real disk or stick would. bootindex puts the disk
# first, before the CD-ROM that qemu-machine.args names.
ATTACHMENTS = {
    "cdrom": lambda image: ["-cdrom", image],
    "ide": lambda image: ["-drive", f"file={image},format=raw,if=none,id=disk,snapshot=on",
                          "-device", "ide-hd,drive=disk,bootindex=0"],
    "usb": lambda image: ["-device", "qemu-xhci",
                          "-drive", f"file={image},format=raw,if=none,id=stick,snapshot=on",
                          "-device", "usb-storage,drive=stick,bootindex=0"],
}

# The device through which the kernels of chapter 4 on end QEMU with a
# status (qemu-machine.args adds it). A machine may leave it out: a kernel's
# exit then writes to nothing and the kernel halts (qemu_exit.h), and what
# it left on the screen can be read.
EXIT_DEVICE = "isa-debug-exit"

# Under TCG, OVMF takes some 4 s of CPU time to reach GRUB, where SeaBIOS
# takes a tenth of one: a UEFI boot's timeout has this much more.
UEFI_FIRMWARE_ALLOWANCE = 10.0

# QEMU's -kernel finds a Multiboot 1 header in an ELF32's first 8 KiB.
MULTIBOOT1_MAGIC = (0x1BADB002).to_bytes(4, "little")
MULTIBOOT1_SEARCH_LIMIT = 8192
MULTIBOOT1_AOUT_KLUDGE = 1 << 16  # a header flag: the header, not the ELF, gives the load and entry addresses

DEFAULT_TIMEOUT = 10.0  # seconds of QEMU CPU time for a whole boot

# A kernel whose exception handler returns to the faulting instruction
# takes the same exception forever. Once QEMU's log passes LOOP_CHECK_SIZE,
# its end is searched for the same exception at the same place again and
# again, to stop the boot long before the watchdog's limit.
LOOP_CHECK_SIZE = 1024 * 1024
LOG_TAIL_BYTES = 256 * 1024  # enough of the log's end to see a loop in, or a triple fault's cascade

POLL_INTERVAL = 0.01  # seconds between looks at serial and QMP
# Seconds between looks at the registers for a CPU halted for good, taken
# only after a look found no new output. Reading them stops QEMU's CPU;
# taken at every poll, that was a tenth of a test kernel's boot. A kernel
# that halts when it is done waits for the next look: every 50 ms made
# chapter 3's boot 0.49 s where every 20 ms makes it 0.46 s, and test
# kernels, which exit, no slower.
HALT_CHECK_INTERVAL = 0.02
SLOW_CHECK_INTERVAL = 0.25  # seconds between looks at GRUB's screen and the log's end
LATE_OUTPUT_WAIT = 0.05  # read this long after a verdict for late output
END_OF_OUTPUT_WAIT = 5.0  # seconds to wait for the rest of an exited QEMU's output
# Seconds a QEMU killed at a limit may take to end: SIGKILL ends it a moment
# later, not at once (it still unmaps the guest's memory and closes its
# files; 1-8 ms measured). No verdict comes before its end.
KILLED_QEMU_WAIT = 5.0

_Result = TypeVar("_Result")


def without_device(arguments: Iterable[str], device: str) -> tuple[str, ...]:
    """QEMU's arguments without the -device option that adds `device`."""
    arguments = tuple(arguments)
    for index, argument in enumerate(arguments[:-1]):
        if argument == "-device" and arguments[index + 1].split(",")[0] == device:
            return arguments[:index] + arguments[index + 2:]
    raise ValueError(f"no -device {device} among QEMU's arguments to leave out")


class Machine:
    """One boot of a kernel in QEMU.

    image: a GRUB ISO or a kernel ELF: a Multiboot 1 ELF32 boots with
        -kernel (QEMU's own loader, ten times faster than GRUB), any other
        through a GRUB ISO the harness makes (isos.py).
    elf: the kernel's ELF file, for symbols; found beside an ISO by name.
    qemu_args: more QEMU arguments, e.g. ["-cpu", "qemu32"].
    command_line: the kernel's command line. Through GRUB, the machine
        boots an ISO made with it (see isos.py); with -kernel it is QEMU's
        -append.
    timeout: the hard limit of the whole boot, in seconds of QEMU CPU time;
        under UEFI, the firmware's start comes on top.
    firmware: "bios" (SeaBIOS, QEMU's default) or "uefi" (OVMF), which
        boots only GRUB ISOs.
    attach: how an ISO reaches the machine (ATTACHMENTS): "cdrom" (the
        default), "ide" (a raw hard disk) or "usb" (a USB stick).
    serial_buffer: the bytes of serial output the host holds while the
        harness does not read (the pipe's size): 64 KiB unless given, at
        least 4096. A test of back-pressure makes it small.
    exit_device: whether the machine has isa-debug-exit (EXIT_DEVICE), as
        every machine of the project does unless told not to.
    uart: whether the machine has its serial port, at COM1. Without it no
        UART answers there, and the harness reads nothing on serial.
    """

    def __init__(self, image: Path | str, *, elf: Path | str | None = None,
                 qemu_args: Iterable[str] = (), command_line: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, name: str | None = None, firmware: str = "bios",
                 attach: str = "cdrom", serial_buffer: int | None = None, exit_device: bool = True,
                 uart: bool = True):
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware must be one of {FIRMWARES}, not {firmware!r}")
        if attach not in ATTACHMENTS:
            raise ValueError(f"attach must be one of {tuple(ATTACHMENTS)}, not {attach!r}")
        self.image = Path(image)
        self.name = name or self.image.name
        self.firmware = firmware
        self.attach = attach
        self.serial_buffer = serial_buffer
        self.exit_device = exit_device
        self.uart = uart
        self.timeout = timeout + (UEFI_FIRMWARE_ALLOWANCE if firmware == "uefi" else 0.0)
        self.elf = self._find_elf(self.image, elf)
        # Short and private: a unix socket path may be at most 107 bytes.
        self.work_dir = Path(tempfile.mkdtemp(prefix="kernel-boot-", dir=scratch.directory()))
        self.qemu_log_path = self.work_dir / "qemu.log"
        self.stderr_path = self.work_dir / "qemu-stderr.log"
        self.screenshot_path = self.work_dir / "screen.png"
        self.failure: KernelFailure | None = None
        self.command: list[str] = []
        self._serial = SerialOutput()
        self._serial_position = 0  # wait_for_serial matches after this
        self._qmp: QmpConnection | None = None
        self._process: QemuProcess | None = None
        self._watchdog: Watchdog | None = None
        self._closed = False
        self._post_mortem_taken = False
        self._post_mortem_screen: Screen | None = None
        self._post_mortem_registers: Registers | None = None
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
        self._check_entry_point()
        socket_path = self.work_dir / "qmp.sock"
        self.command = [
            host.QEMU,
            *(MACHINE_ARGS if self.exit_device else without_device(MACHINE_ARGS, EXIT_DEVICE)),
            *self._firmware_arguments(),
            # A triple fault stops the machine instead of rebooting it, and
            # leaves it paused rather than gone, so that QMP can still read
            # its screen, registers and memory (a post-mortem).
            "-action", "shutdown=pause",
            "-serial", "stdio" if self.uart else "none",
            "-monitor", "none",
            "-qmp", f"unix:{socket_path},server=on,wait=on",  # the guest starts once we are connected
            "-d", "int,cpu_reset", "-D", str(self.qemu_log_path),
            *self._boot_arguments(command_line),
            *qemu_args,
        ]
        self._process = QemuProcess(self.command, self.stderr_path, self.serial_buffer)
        self._watchdog = Watchdog(timeout=self.timeout, cpu_seconds=self._process.cpu_seconds,
                                  wall_seconds=self._process.wall_seconds, interrupt_log=self.qemu_log_path,
                                  kill=self._process.kill)
        self._qmp = self._connect(socket_path)

    def _check_entry_point(self) -> None:
        """GRUB refuses a kernel whose entry point lies in none of its
        segments; QEMU's -kernel jumps there all the same, into whatever
        memory holds, and the kernel fails far from its cause. (A kernel
        whose Multiboot header gives the addresses, the a.out kludge, is
        entered where the header says.)"""
        if self.through_grub or self.elf is None or self.elf.loads(self.elf.entry):
            return
        header = self.elf.data.find(MULTIBOOT1_MAGIC, 0, MULTIBOOT1_SEARCH_LIMIT)
        if int.from_bytes(self.elf.data[header + 4:header + 8], "little") & MULTIBOOT1_AOUT_KLUDGE:
            return
        raise KernelFailure(Verdict.BOOT_REJECTED,
                            f"{self.elf.path.name}'s entry point {self.elf.entry:#x} lies in none of its segments: "
                            "QEMU's -kernel would jump there into whatever memory holds, GRUB refuses it",
                            GRUB_ERRORS_EXPLAINED["entry point isn't in a segment"])

    def _firmware_arguments(self) -> list[str]:
        if self.firmware == "bios":
            return []
        host.check("uefi")
        if not self.through_grub:
            raise ValueError(f"{self.image.name}: QEMU's -kernel loader is a BIOS boot; UEFI boots GRUB ISOs")
        return list(host.UEFI_ARGS)

    def _boot_arguments(self, command_line: str | None) -> list[str]:
        if self.image.suffix == ".iso" and command_line is None:
            return ATTACHMENTS[self.attach](str(self.image))
        if self.through_grub:
            if self.elf is None:
                raise ValueError(f"no kernel ELF beside {self.image} to make an ISO with a command line")
            return ATTACHMENTS[self.attach](str(iso_with_command_line(self.elf, command_line or "")))
        if self.attach != "cdrom":
            raise ValueError(f"{self.image.name} boots with QEMU's -kernel loader, from no disk to attach")
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
            if not self._process.alive() or time.monotonic() > deadline:
                self._process.stop()
                raise KernelFailure(Verdict.FAIL, "QEMU did not start",
                                    "its messages follow; check the extra QEMU arguments",
                                    read_head_and_tail(self.stderr_path))
            time.sleep(0.002)
        try:
            return QmpConnection(socket_path)
        except QmpError:
            # QEMU goes on starting once we connect, and may stop there:
            # its -kernel loader refuses an image only then, saying why
            # in its last message.
            if self.through_grub or not self._exits_within(KILLED_QEMU_WAIT):
                raise
            messages = read_head_and_tail(self.stderr_path)
            said = messages.strip().splitlines()[-1] if messages.strip() else f"status {self.exit_status}"
            raise KernelFailure(Verdict.BOOT_REJECTED, f"QEMU's -kernel loader refused {self.image.name}: {said}",
                                "it takes a Multiboot 1 ELF32, or an image whose header gives the load addresses "
                                "(the a.out kludge, flags bit 16): its message says what it could not use",
                                messages) from None

    def close(self) -> None:
        """Stops QEMU (its whole process group: SIGTERM, then SIGKILL) and
        removes the machine's temporary directory. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self._process is not None:
            self._process.stop()
            run_timings.record("UEFI" if self.firmware == "uefi" else "boot", self._process.wall_seconds())
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # What the machine shows.

    @property
    def serial_text(self) -> str:
        """Everything the kernel printed on serial so far, with its line
        endings ("\\r\\n", "\\n", "\\n\\r") turned into "\\n"."""
        return self._serial.text

    @property
    def serial_bytes(self) -> bytes:
        """The serial output, byte for byte as the kernel sent it."""
        return bytes(self._serial.received)

    @property
    def serial_lines(self) -> list[str]:
        return self._serial.lines

    def last_serial_line(self) -> str | None:
        return self._serial.last_line()

    @property
    def exit_status(self) -> int | None:
        return self._process.exit_status if self._process is not None else None

    @property
    def limit_reached(self) -> LimitReached | None:
        """The limit that stopped the boot, if one did (boot_limits.py)."""
        return self._watchdog.limit_reached if self._watchdog is not None else None

    @property
    def running(self) -> bool:
        """QEMU is alive (it may be paused after a triple fault). When it has
        just exited, takes the rest of its output and its exit status."""
        if self._process is None or self.exit_status is not None:
            return False
        if self._process.alive():
            return True
        self._read_to_end()
        return False

    @property
    def triple_faulted(self) -> bool:
        return interrupt_log.has_triple_fault(self._interrupt_log_tail())

    @property
    def reset_by_kernel(self) -> bool:
        """The kernel reset the machine on purpose (keyboard controller,
        port 0xcf9): QEMU reported a reset of the guest, which -no-reboot
        stops just as it stops a triple fault, but its log shows no triple
        fault before it."""
        return self._reset_by_guest() and not self.triple_faulted

    def qemu_log(self) -> str:
        """QEMU's interrupt log: every exception delivered, and resets.
        Whole, as long as the boot kept to its limit of INTERRUPT_LOG_LIMIT
        bytes; past it (QEMU is killed within moments), its start and end."""
        return read_head_and_tail(self.qemu_log_path, INTERRUPT_LOG_LIMIT // 2)

    def _interrupt_log_tail(self) -> str:
        return read_tail(self.qemu_log_path, LOG_TAIL_BYTES)

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

    def read_port(self, port: int) -> int:
        """A byte from an I/O port, read as an in instruction would: a
        device register the kernel set, say (a read of a register that
        changes when read, such as the UART's data, changes it)."""
        answer = self._monitor().human_monitor(f"i/b {port:#x}")
        return int(re.fullmatch(r"\s*portb\[0x[0-9a-f]+\] = (0x[0-9a-f]+)\s*", answer)[1], 16)

    def write_port(self, port: int, value: int) -> None:
        """A byte to an I/O port, written as an out instruction would: to
        play a device state a firmware may leave."""
        self._monitor().human_monitor(f"o/b {port:#x} {value:#x}")

    def symbol(self, name: str) -> Symbol:
        """A symbol of the kernel's ELF. The tests find the kernel's
        functions and variables by name: a kernel without the name fails
        with a FAIL that says so, and names a C++ name that holds it (a
        function declared without extern "C")."""
        if self.elf is None:
            raise ValueError(f"{self.name}: no ELF file to look symbols up in")
        try:
            return self.elf.symbol(name)
        except KeyError:
            # The Itanium C++ ABI writes an identifier as its length and
            # itself: halt_forever() becomes _Z12halt_foreverv.
            mangled = [s.name for s in self.elf.symbols
                       if s.defined and s.type in ("FUNC", "OBJECT") and f"{len(name)}{name}" in s.name]
            if mangled:
                raise KernelFailure(Verdict.FAIL, f"{self.elf.path.name} has no symbol {name!r}, which the test "
                                    f"looks for, but the C++ name {mangled[0]!r}",
                                    f'declare {name} extern "C", so that C++ keeps its name as it is') from None
            raise KernelFailure(Verdict.FAIL, f"{self.elf.path.name} has no symbol {name!r}, which the test looks for",
                                "the tests find the kernel's functions and variables by name: was it renamed, "
                                "or removed?") from None

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

    def elapsed(self) -> float:
        """Wall-clock seconds since QEMU started."""
        return self._process.wall_seconds()

    def cpu_seconds(self) -> float:
        """The CPU time QEMU has used so far, all its threads'."""
        return self._process.cpu_seconds()

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
        successive waits read the output in order.)

        A match that ends where the output so far ends, in a line still
        on its way, waits for the rest of that line: there `$` matches, and
        `\\d+` stops, at the end of what came, so that /^1\\.\\.(\\d+)$/
        would take the "1..1" of a "1..12". Once the kernel can print no
        more (QEMU exited, the CPU halted for good, the wait timed out), what
        came is all there is, and its last line is matched as it is."""
        __tracebackhide__ = True
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern

        def matched(output_ended: bool = False) -> re.Match[str] | None:
            text = self.serial_text
            match = regex.search(text, self._serial_position)
            if match is None or match.end() == len(text) and not text.endswith("\n") and not output_ended:
                return None
            self._serial_position = match.end()
            return match

        return self._wait_until(matched, f"serial output matching /{regex.pattern}/", timeout,
                                expects_output=True, once_output_ended=lambda: matched(output_ended=True))

    def wait_until_halted_in(self, function: str, timeout: float | None = None) -> Registers:
        """Waits until the CPU is halted for good (HLT with interrupts off)
        at a hlt inside the named function; returns the registers then. A
        halt elsewhere fails: nothing but an NMI could wake the CPU."""
        __tracebackhide__ = True
        symbol = self.symbol(function)

        def in_function(registers: Registers) -> Registers:
            # A halted CPU's RIP is past its hlt, which is one byte long: a
            # function that ends with its hlt halts at the next one's start.
            halt = registers.rip - 1
            if symbol.contains(halt):
                return registers
            raise self._fail(self._diagnose(f"the CPU to halt in {function}", expects_output=False,
                                            halted_at=registers, wanted_function=function))

        return self._wait_until(lambda: None, f"the CPU to halt in {function}", timeout, expects_output=False,
                                on_halt=in_function)

    def wait_until_halted(self, timeout: float | None = None) -> Registers:
        """Waits until the CPU is halted with interrupts off, wherever that
        is (an error path, say); returns the registers then."""
        __tracebackhide__ = True
        return self._wait_until(lambda: None, "the CPU to halt", timeout, expects_output=False,
                                on_halt=lambda registers: registers)

    def wait_until_done(self, timeout: float | None = None) -> int | Registers:
        """Waits until the kernel is done either way a kernel can be: QEMU
        exited (returns the status) or the CPU halted for good (returns the
        registers)."""
        __tracebackhide__ = True
        return self._wait_until(lambda: None if self.running else self.exit_status, "the kernel to exit or halt",
                                timeout, expects_output=False, on_halt=lambda registers: registers)

    def wait_for_triple_fault(self, timeout: float | None = None) -> str:
        """For tests that expect one: waits for the reset; returns the
        description of the exceptions that led to it."""
        __tracebackhide__ = True
        self._wait_until(lambda: True if self._reset_by_guest() and self.triple_faulted else None, "a triple fault",
                         timeout, expects_output=False, triple_fault_is_failure=False)
        return interrupt_log.describe_triple_fault(self.qemu_log(), self.describe_address)

    def _wait_until(self, condition: Callable[[], _Result | None], expecting: str, timeout: float | None,
                    *, expects_output: bool, triple_fault_is_failure: bool = True,
                    on_halt: Callable[[Registers], _Result] | None = None,
                    once_output_ended: Callable[[], _Result | None] | None = None) -> _Result:
        """Polls until `condition` returns something (see _poll_until), and
        fails if a limit stopped the boot meanwhile, or if the kernel
        reported undefined behaviour on the way: the
        report is a panic, and a panic may be just what the test waited for
        (a halt, or an exit after a test that should panic), but no test
        waits for undefined behaviour."""
        __tracebackhide__ = True
        result = self._poll_until(condition, expecting, timeout, expects_output=expects_output,
                                  triple_fault_is_failure=triple_fault_is_failure,
                                  on_halt=on_halt, once_output_ended=once_output_ended or condition)
        # An exit the watchdog caused (QEMU killed at a limit) is no answer.
        if UNDEFINED_BEHAVIOUR.search(self.serial_text) or self.limit_reached is not None:
            raise self._fail(self._diagnose(expecting, expects_output=expects_output))
        return result

    def _poll_until(self, condition: Callable[[], _Result | None], expecting: str, timeout: float | None,
                    *, expects_output: bool, triple_fault_is_failure: bool,
                    on_halt: Callable[[Registers], _Result] | None,
                    once_output_ended: Callable[[], _Result | None]) -> _Result:
        """Polls until `condition` returns something. Fails as soon as the
        kernel can no longer satisfy it: QEMU exited, the CPU reset (a
        triple fault, or a reset the kernel asked for), the kernel turned
        the machine off, halted for good (unless `on_halt` says what that
        halt gives, from its registers), GRUB refused the kernel, or the
        timeout ran out. Where QEMU exited, the CPU halted or time ran out,
        `once_output_ended` is asked last: the output is then all the
        kernel printed. The registers are read only here, between bursts
        of output: reading them stops QEMU's CPU."""
        __tracebackhide__ = True
        if self.failure is not None:
            raise self.failure
        limit = self._time_left() if timeout is None else min(timeout, self._time_left())
        wall_start, cpu_start = time.monotonic(), self._process.cpu_seconds()
        next_slow_check = wall_start + SLOW_CHECK_INTERVAL
        next_halt_check = wall_start
        while True:
            printing = self._read_serial(POLL_INTERVAL)
            if self.limit_reached is not None:
                self._exits_within(KILLED_QEMU_WAIT)
                raise self._fail(self._diagnose(expecting, expects_output=expects_output))
            if (self._reset_by_guest() and (triple_fault_is_failure or self.reset_by_kernel)
                    or self.powered_off_by_kernel):
                raise self._fail(self._diagnose(expecting))
            # Whether QEMU lives is asked before the condition: QEMU may exit
            # while the condition looks, and then the condition's answer is
            # about a machine that was still running.
            alive = self.running
            look_for_halt = not printing and time.monotonic() >= next_halt_check
            try:
                result = condition()
                halted = self._halted_for_good() if look_for_halt and result is None and alive else None
            except QmpError:
                # QEMU exited while we asked it something (it closes QMP a
                # moment before its process ends): ask again, knowing that.
                if not self._exits_within(1.0):
                    raise
                alive, result, halted = False, condition(), None
            if result is not None:
                return result
            if not alive:
                if (result := once_output_ended()) is not None:
                    return result
                raise self._fail(self._diagnose(expecting, expects_output=expects_output))
            if halted is not None:
                # The halt was looked for after a poll that brought no
                # output; what the kernel printed before it halted may
                # still be on its way through the pipe: take it during one
                # poll more, and look again.
                self._read_serial(POLL_INTERVAL)
                if (result := once_output_ended()) is not None:
                    return result
                if on_halt is not None:
                    return on_halt(halted)
                raise self._fail(self._diagnose(expecting, expects_output=expects_output, halted_at=halted))
            now = time.monotonic()
            if look_for_halt:
                next_halt_check = now + HALT_CHECK_INTERVAL
            if now >= next_slow_check:
                next_slow_check = now + SLOW_CHECK_INTERVAL
                grub_text = self._grub_text()
                if grub_text is not None and boot_loader_error(grub_text) is not None:
                    raise self._fail(self._diagnose(expecting))
                if file_size(self.qemu_log_path) > LOOP_CHECK_SIZE and interrupt_log.describe_exception_loop(
                        self._interrupt_log_tail()) is not None:
                    raise self._fail(self._diagnose(expecting, exception_loop_seen=True))
            cpu_used, wall_used = self._process.cpu_seconds() - cpu_start, now - wall_start
            if cpu_used >= limit or wall_used >= limit * WALL_CLOCK_ALLOWANCE:
                if (result := once_output_ended()) is not None:
                    return result
                # A guest that waits (halted with interrupts on) ends on the
                # wall clock, with little CPU time used: the verdict says so.
                raise self._fail(self._diagnose(
                    expecting, timed_out_after=round(cpu_used, 1), expects_output=expects_output,
                    timed_out_on_wall_time=round(wall_used, 1) if cpu_used < limit else None))


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
        return max(0.0, self.timeout - self._process.cpu_seconds())

    def _reset_by_guest(self) -> bool:
        """QMP reported a reset the guest caused: with -no-reboot and
        shutdown=pause, a triple fault or a reset the kernel asked for,
        and QEMU is now paused."""
        return self._guest_shutdown_reason() == "guest-reset"

    @property
    def powered_off_by_kernel(self) -> bool:
        """The kernel turned the machine off (ACPI): QEMU, told by
        shutdown=pause to keep the machine for a post-mortem, paused it
        instead of exiting, so no exit status will ever come."""
        return self._guest_shutdown_reason() == "guest-shutdown"

    def _guest_shutdown_reason(self) -> str | None:
        """The reason of the SHUTDOWN event the guest caused, if QMP sent
        one: "guest-reset" or "guest-shutdown"."""
        if self._qmp is None:
            return None
        return next((event.get("data", {}).get("reason") for event in self._qmp.poll_events()
                     if event["event"] == "SHUTDOWN" and event.get("data", {}).get("guest")), None)

    def _read_serial(self, wait: float) -> bool:
        """Takes what the kernel printed, waiting up to `wait` seconds for
        the first byte; notices when QEMU exits. Returns after `wait` even
        if a kernel prints without pause, so that timeouts stay checked, and
        stops QEMU when the output passes its limit. Says whether anything
        came."""
        if self._process is None or self.exit_status is not None:
            return False
        deadline = time.monotonic() + wait
        chunk = self._process.read(wait)
        came = bool(chunk)
        while chunk:
            self._serial.take(chunk)
            if self._serial.bytes_received > SERIAL_LIMIT:
                self._watchdog.reached(LimitReached(
                    "serial output", f"the kernel printed more than {mebibytes(SERIAL_LIMIT)} on serial"))
                break
            if time.monotonic() > deadline:
                break
            chunk = self._process.read(0)
        return came

    def _read_to_end(self) -> None:
        """Once QEMU has exited: the rest of its output, and its status. The
        pipe says when its last byte has been read (QemuProcess.read), and a
        pause in between is no end: on a loaded machine the last bytes may
        come late."""
        deadline = time.monotonic() + END_OF_OUTPUT_WAIT
        while (chunk := self._process.read(POLL_INTERVAL)) is not None:  # None reaps QEMU
            self._serial.take(chunk)
            if time.monotonic() > deadline:  # the end never came: reap QEMU all the same
                self._process.reap()
                return

    # Diagnosis: when the awaited thing did not come, what did.

    def lost_by_the_debugger(self) -> KernelFailure:
        """What became of a kernel whose CPU the gdb stub lost, stopped for
        another reason than a breakpoint or a step, or running on past the
        stub's wait: a triple fault, GRUB's refusal, QEMU's exit, a hang."""
        return self._fail(self._diagnose("the CPU to stop where the gdb stub was to stop it", expects_output=False))

    def _fail(self, failure: KernelFailure) -> KernelFailure:
        self.failure = failure
        return failure

    def _grub_text(self) -> str | None:
        """What GRUB shows, where its complaints would be: the text screen,
        or under UEFI (no text screen) the serial console. None when GRUB
        did not boot this kernel or QEMU is gone."""
        if not self.through_grub:
            return None
        if self.firmware == "uefi":
            return self.serial_text
        if self._post_mortem_screen is not None:
            return self._post_mortem_screen.text()
        try:
            return self.screen().text() if self.running else None
        except QmpError:
            return None

    def _diagnose(self, expecting: str, *, expects_output: bool = True, timed_out_after: float = 0.0,
                  timed_out_on_wall_time: float | None = None,
                  halted_at: Registers | None = None, wanted_function: str | None = None,
                  exception_loop_seen: bool = False) -> KernelFailure:
        self._read_serial(LATE_OUTPUT_WAIT)
        self.capture_post_mortem()
        if exception_loop_seen:
            # Every further moment writes megabytes of log: the evidence is taken.
            self._process.kill()
            self._exits_within(KILLED_QEMU_WAIT)
        log_tail = self._interrupt_log_tail()  # up to 256 KiB: read and searched once
        triple_faulted = interrupt_log.has_triple_fault(log_tail)
        return diagnose(Evidence(
            expecting=expecting, serial_text=self.serial_text,
            screen=self._post_mortem_screen, registers=self._post_mortem_registers,
            interrupt_log_tail=log_tail, interrupt_log_size=file_size(self.qemu_log_path),
            triple_faulted=triple_faulted, reset_by_kernel=self._reset_by_guest() and not triple_faulted,
            powered_off_by_kernel=self.powered_off_by_kernel, exit_status=self.exit_status,
            qemu_messages=read_head_and_tail(self.stderr_path), boot_loader_text=self._grub_text(),
            elf=self.elf, expects_output=expects_output, timed_out_after=timed_out_after,
            timed_out_on_wall_time=timed_out_on_wall_time,
            halted_at=halted_at, wanted_function=wanted_function, exception_loop_seen=exception_loop_seen,
            limit_reached=self.limit_reached))

    def capture_post_mortem(self) -> None:
        """Keeps the screen, registers and a screenshot while QEMU still
        runs, for the failure message and the artifacts. Runs once.

        The guest's CPU is stopped first, for good: the screen and the
        registers are then of one moment, and a kernel that spins (a hang,
        GRUB at its prompt) no longer takes a CPU from the other tests
        while its machine waits for its test, or its module, to end."""
        if self._post_mortem_taken or not self.running:
            return
        self._post_mortem_taken = True
        try:
            self._monitor().execute("stop")
            self._post_mortem_screen = self.screen()
            self._post_mortem_registers = self.registers()
            self.screenshot(self.screenshot_path)
        except (QmpError, OSError):
            pass  # QEMU went away meanwhile: keep what was taken

    def save_artifacts(self, directory: Path, failure_text: str | None = None) -> None:
        """Keeps the evidence of a failed boot in `directory`
        (boot_artifacts.py says what, and how much)."""
        boot_artifacts.save(boot_artifacts.BootRecord(
            serial_text=self.serial_text, interrupt_log=self.qemu_log_path, qemu_messages=self.stderr_path,
            screenshot=self.screenshot_path, screen=self._post_mortem_screen,
            registers=self._post_mortem_registers,
            verdict=self.failure.describe() if self.failure is not None else failure_text or "",
            command=self.command, exit_status=self.exit_status), directory, artifacts())
