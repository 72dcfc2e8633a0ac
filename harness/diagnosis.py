"""What happened in a boot that did not do what its test waited for.

Machine gathers the Evidence of a boot (what it printed, its screen and
registers, QEMU's interrupt log and exit status, the limit that stopped
it); `diagnose` turns it into one verdict with a summary, a hint and the
details, and does nothing else: no QEMU, no files, so that every verdict
can be read here in one place, and tried on evidence made by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import interrupt_log
from boot_limits import LimitReached
from elf import ElfFile
from registers import Registers
from serial_output import printable
from verdict import KernelFailure, Verdict
from vga_screen import Screen

# isa-debug-exit turns the value v a kernel writes to its port into QEMU's
# exit status (v << 1) | 1. The kernels of chapter 4 on write 0x10 for
# success and 0x11 for failure. A triple fault under -no-reboot exits with
# status 0, so 0 is never a pass.
EXIT_SUCCESS = (0x10 << 1) | 1  # 33
EXIT_FAILURE = (0x11 << 1) | 1  # 35

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

# GRUB under UEFI draws its screen through the firmware's console, which
# OVMF sends to the serial port with terminal escape sequences.
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]")

# What GRUB says when it refuses a kernel, in words a student can act on.
# Only errors after it announced the menu entry count: before that, GRUB
# complains of modules the slimmed-down ISO leaves out, and boots on.
GRUB_BOOTING_LINE = re.compile(r"^\s*Booting `", re.MULTILINE)
GRUB_ERROR_LINE = re.compile(r"^error: (.+?)\.?$", re.MULTILINE)
# GRUB waits for a key once it gave up on the entry. Under UEFI its console
# is the serial port the kernel prints on: an "error: " line of the
# kernel's own is not followed by this.
GRUB_GAVE_UP = re.compile(r"Press any key to continue")
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
    "entry point isn't in a segment":
        "the ELF's entry point (ENTRY(_start) in the linker script) lies in none of the segments GRUB "
        "loads: is _start global (`global _start` in boot.asm)? Without it the linker only warns and "
        "leaves the entry point 0. "
        "`readelf -lh kernel.elf` shows the entry point and the segments",
    "unsupported tag":
        "the Multiboot2 header holds a tag GRUB does not know: check the tag types and sizes",
}

EXCEPTION_VECTORS = 32  # 0-31 belong to the CPU's exceptions
HLT = b"\xf4"  # the one-byte instruction a CPU halted for good last ran

SERIAL_LINES_SHOWN = 20
SERIAL_LINE_WIDTH = 300  # a flood may be one line of 256 KiB: show its start, in the summary too


@dataclass
class Evidence:
    """Everything known about a boot when its test's wait ended without
    what it waited for."""
    expecting: str  # what the test waited for, in words: "QEMU to exit"
    serial_text: str  # line endings normalised
    screen: Screen | None = None  # the text screen when the wait ended, if QEMU still ran
    registers: Registers | None = None  # likewise
    interrupt_log_tail: str = ""  # the end of QEMU's -d int log (whole lines)
    interrupt_log_size: int = 0
    triple_faulted: bool = False
    reset_by_kernel: bool = False  # a reset with no triple fault before it
    powered_off_by_kernel: bool = False  # an ACPI power-off, which left QEMU paused
    exit_status: int | None = None  # None while QEMU runs
    qemu_messages: str = ""  # what QEMU wrote to its stderr
    boot_loader_text: str | None = None  # GRUB's screen (under UEFI: its serial console), if GRUB booted
    elf: ElfFile | None = None  # to name the functions that hold addresses
    expects_output: bool = True  # the kernel should have printed on serial by now
    timed_out_after: float = 0.0  # seconds of QEMU CPU time, when the wait timed out
    timed_out_on_wall_time: float | None = None  # seconds, when the wall clock ended the wait, not the CPU time
    halted_at: Registers | None = None  # the CPU halted for good there
    wanted_function: str | None = None  # the test waited for a halt in this function
    exception_loop_seen: bool = False  # the waits saw one before a limit did
    limit_reached: LimitReached | None = None

    def where(self, rip: int) -> str:
        location = self.describe_address(rip)
        if location is None and self.elf is not None and not self.elf.loads(rip):
            # Not the kernel's code at all: a jump through a bad pointer,
            # or a return to a smashed address.
            location = f"outside every segment of {self.elf.path.name}"
        return f"rip={rip:#x}" + (f" ({location})" if location else "")

    def where_halted(self, rip: int) -> str:
        """Where a halted CPU stopped: at the hlt before RIP, which points to
        the next instruction, the next function's first if the hlt ended
        its own. The byte is read from the ELF, as diagnose reads no guest
        memory; a kernel does not rewrite its code."""
        hlt = rip - 1
        if self.elf is None or not self.elf.loads(hlt) or self.elf.initial_bytes(hlt, 1) != HLT:
            return self.where(rip)
        function = self.describe_address(hlt)
        return f"the hlt {f'in {function}' if function else f'at {hlt:#x}'} (rip={rip:#x}, just past it)"

    def describe_address(self, address: int) -> str | None:
        return self.elf.function_at(address) if self.elf is not None else None

    def last_serial_line(self) -> str | None:
        lines = [line for line in self.serial_text.splitlines() if line.strip()]
        return lines[-1] if lines else None


# What the firmware shows when it tried every disk and could start none:
# a line for each, the one attached first (the image) first. SeaBIOS then
# says "No bootable device."; OVMF starts its shell.
FIRMWARE_NOTHING_TO_BOOT = re.compile(r"^No bootable device\.|^UEFI Interactive Shell", re.MULTILINE)
FIRMWARE_BOOT_FAILED = re.compile(
    r"^(?:Boot failed: (.+?)|BdsDxe: failed to load (Boot\d+ \".*?\") from .*?: (.+?))\s*$", re.MULTILINE)
FIRMWARE_NOTHING_TO_BOOT_EXPLAINED = (
    "the image holds nothing the firmware can start: is it the ISO `make` built, with grub-pc-bin (BIOS) and "
    "grub-efi-amd64-bin (UEFI) installed? grub-mkrescue leaves out the boot image of a firmware whose package "
    "is missing. Attached as a disk (IDE, USB), an image also needs the hybrid MBR (BIOS) or the EFI system "
    "partition (UEFI) that grub-mkrescue writes")


# GRUB's prompts, where it waits for a person when it could not go on by
# itself: `grub>` when it found no grub.cfg, `grub rescue>` when it could
# not even load its normal module.
GRUB_PROMPT = re.compile(r"grub(?: rescue)?>")
GRUB_PROMPT_EXPLAINED = (
    "the image is broken, not the kernel: GRUB found no grub.cfg where its prefix points (`grub>`), or could not "
    "load its own modules from the image (`grub rescue>`); make it again with make (common/make-iso.sh), with "
    "grub-pc-bin and grub-efi-amd64-bin installed")


def boot_loader_error(text: str) -> tuple[str, str] | None:
    """What stopped the boot before the kernel, in one line, and what it
    means: GRUB's complaint, if its screen shows one after it announced the
    kernel's menu entry, GRUB waiting at its prompt before it announced any,
    or the firmware's finding nothing to boot."""
    text = TERMINAL_ESCAPE.sub("", text).replace("\r", "")
    booting = GRUB_BOOTING_LINE.search(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if booting is None and lines and (prompt := GRUB_PROMPT.fullmatch(lines[-1])):
        errors = GRUB_ERROR_LINE.findall(text)
        return (f"GRUB stopped at its `{prompt[0]}` prompt before it booted anything"
                + (f": {errors[-1]!r}" if errors else ""), GRUB_PROMPT_EXPLAINED)
    match = GRUB_ERROR_LINE.search(text, booting.end()) if booting else None
    if match is not None and GRUB_GAVE_UP.search(text, match.end()):
        message = match.group(1)
        explanation = next((meaning for known, meaning in GRUB_ERRORS_EXPLAINED.items() if known in message),
                           "GRUB's own message; the screen below shows it in full")
        return f"GRUB refused the kernel: {message!r}", explanation
    if FIRMWARE_NOTHING_TO_BOOT.search(text):
        failure = FIRMWARE_BOOT_FAILED.search(text)
        first = (failure[1] or f"{failure[2]}: {failure[3]}") if failure else FIRMWARE_NOTHING_TO_BOOT.search(text)[0]
        return f"the firmware found nothing to boot: {first!r}", FIRMWARE_NOTHING_TO_BOOT_EXPLAINED
    return None


def diagnose(evidence: Evidence) -> KernelFailure:
    """The one verdict for the evidence: the first of these that applies.
    A limit that stopped the boot, a triple fault, an exception loop,
    GRUB's refusal, a panic, a reset or a power-off the kernel asked for,
    a halt for good, an exit, no output, a hang."""
    details = failure_details(evidence)
    last_line = evidence.last_serial_line()
    said = f"last serial line: {shortened(last_line)!r}" if last_line else "no serial output"
    exception_loop = interrupt_log.describe_exception_loop(evidence.interrupt_log_tail, evidence.describe_address)

    if evidence.limit_reached is not None:
        return _limit_failure(evidence, exception_loop, said, details)

    if evidence.triple_faulted:
        return KernelFailure(
            Verdict.TRIPLE_FAULT,
            interrupt_log.describe_triple_fault(evidence.interrupt_log_tail, evidence.describe_address),
            "the first exception is the real fault (find its rip with `addr2line -e kernel.elf ADDRESS`); "
            "it became a triple fault because no handler could run: no IDT loaded, no gate for the "
            "vector, or no usable stack", details)

    if exception_loop and (evidence.exception_loop_seen or evidence.timed_out_after):
        if evidence.exception_loop_seen:
            why_stopped = f"stopped after {evidence.interrupt_log_size / 2**20:.0f} MB of QEMU's interrupt log"
        else:
            why_stopped = f"timed out after {_waited(evidence)} waiting for {evidence.expecting}"
        return _exception_loop_failure(f"{exception_loop}; {why_stopped}", details)

    rejection = boot_loader_error(evidence.boot_loader_text) if evidence.boot_loader_text else None
    if rejection is not None:
        return KernelFailure(Verdict.BOOT_REJECTED, rejection[0], rejection[1], details)

    panic = panic_line(evidence)
    if panic is not None:
        # A message may be a garbage string: long, and full of bytes a
        # terminal would act on.
        return KernelFailure(Verdict.PANIC, f"kernel panic: {printable(shortened(panic.strip()))}",
                             _panic_hint(evidence), details)

    if evidence.reset_by_kernel:
        # -no-reboot stopped the machine before the reset: the registers
        # are still those of the kernel that asked for it.
        where = f" at {evidence.where(evidence.registers.rip)}" if evidence.registers is not None else ""
        return KernelFailure(Verdict.FAIL, f"the kernel reset the machine{where} while the test waited for "
                             f"{evidence.expecting}; {said}",
                             "no exception came before the reset, so it was no triple fault: the kernel asked "
                             "for it, as a reboot does (0xfe to the keyboard controller's port 0x64, or 0x06 "
                             "to port 0xcf9); the code just before that address is the place to look", details)

    if evidence.powered_off_by_kernel:
        return KernelFailure(Verdict.FAIL, f"the kernel turned the machine off (an ACPI power-off) while the test "
                             f"waited for {evidence.expecting}; {said}",
                             "a power-off says nothing of how the kernel did: a test kernel ends through "
                             "isa-debug-exit (0x10 to port 0xf4 for success, 0x11 for failure), and any other "
                             "kernel halts when it is done", details)

    if evidence.halted_at is not None:
        return _halt_failure(evidence, said, details)

    if evidence.exit_status is not None:
        return KernelFailure(Verdict.FAIL, describe_exit(evidence) + f"; {said}",
                             "compare the serial output below with what the test expects", details)

    # Where the CPU is: for a kernel that printed nothing, the one clue to
    # whether it reached its own code at all.
    where = ""
    if evidence.registers is not None:
        rip = evidence.registers.rip
        where = (f"; the CPU is halted at {evidence.where_halted(rip)}" if evidence.registers.halted
                 else f"; the CPU is running at {evidence.where(rip)}")
    if evidence.expects_output and not evidence.serial_text.strip():
        return KernelFailure(Verdict.NO_OUTPUT,
                             f"nothing on serial after {_waited(evidence)} (waiting for {evidence.expecting})"
                             f"{where}",
                             "did the kernel start, and does it set up and write to COM1 (0x3f8)? "
                             "`make gdb CH=NN` shows whether the entry point is reached", details)
    return KernelFailure(Verdict.HANG,
                         f"timed out after {_waited(evidence)} waiting for {evidence.expecting}; {said}{where}",
                         "an endless loop, or a halt with nothing to wake it; the code after the last "
                         "line printed is the place to look", details)


def _panic_hint(evidence: Evidence) -> str:
    # Until a kernel remaps the PIC, IRQs 0-7 come on vectors 8-15, where
    # the CPU's exceptions are: the timer's tick reaches the double fault
    # handler, which reports a double fault that never happened.
    stray = next((interrupt for interrupt in interrupt_log.hardware_interrupts(evidence.interrupt_log_tail)
                  if interrupt.vector < EXCEPTION_VECTORS), None)
    if stray is not None:
        return (f"QEMU's log shows hardware interrupt {stray.vector:#x} at {evidence.where(stray.rip)}, on a "
                "vector that belongs to the CPU's exceptions: until the kernel remaps the PIC, IRQs 0-7 (IRQ 0 "
                "is the timer) come on vectors 8-15, so the exception the panic reports may be an IRQ; remap the "
                "PIC, or mask it, before sti")
    return f"the panic message names the failed check; the test was waiting for {evidence.expecting}"


def _waited(evidence: Evidence) -> str:
    """How long a wait that timed out took, on the clock that ended it."""
    if evidence.timed_out_on_wall_time is not None:
        return f"{evidence.timed_out_on_wall_time:g} s of wall time (QEMU used only " \
               f"{evidence.timed_out_after:g} s of CPU time in it: a halted guest, or a busy host)"
    return f"{evidence.timed_out_after:g} s of QEMU CPU time"


def _exception_loop_failure(summary: str, details: str) -> KernelFailure:
    return KernelFailure(Verdict.HANG, f"exception loop: {summary}",
                         "an exception handler returns to the instruction that faulted, which faults again: "
                         "a fault handler must remove the cause or not return", details)


def _limit_failure(evidence: Evidence, exception_loop: str | None, said: str, details: str) -> KernelFailure:
    limit = evidence.limit_reached
    stopped = f"QEMU was stopped because {limit.description}"
    if exception_loop:
        return _exception_loop_failure(f"{exception_loop}; {stopped}", details)
    if limit.name == "interrupt log":
        return _exception_loop_failure(f"the CPU takes exception after exception; {stopped}", details)
    if limit.name == "serial output":
        # The output was cut anywhere: its last whole line is the one to show.
        whole_lines = [line for line in evidence.serial_text.splitlines()[:-1] if line.strip()]
        said = f"last whole serial line: {shortened(whole_lines[-1])!r}" if whole_lines else said
        return KernelFailure(Verdict.FAIL, f"the kernel flooded the serial port: {stopped}; {said}",
                             "a loop that prints without end: the repeated line shows which one", details)
    return KernelFailure(Verdict.HANG, f"{stopped}, waiting for {evidence.expecting}; {said}",
                         "an endless loop, or a halt with nothing to wake it; the code after the last "
                         "line printed is the place to look", details)


def _halt_failure(evidence: Evidence, said: str, details: str) -> KernelFailure:
    where = evidence.where_halted(evidence.halted_at.rip)
    top_line = evidence.screen.lines()[0].strip() if evidence.screen is not None else ""
    seen = f"; the screen's first line reads {top_line!r}" if top_line else ""
    if evidence.expects_output and not evidence.serial_text.strip():
        exception = interrupt_log.describe_last_exception(evidence.interrupt_log_tail, evidence.describe_address)
        if exception is not None:
            # A fault before the serial port and the screen were set up: the
            # panic it ended in had nowhere to print.
            return KernelFailure(Verdict.NO_OUTPUT, f"nothing on serial, and the CPU halted for good at {where} "
                                 f"after {exception} (the test waited for {evidence.expecting}){seen}",
                                 "the kernel took that exception before it could print: its report, if any, had "
                                 "nowhere to go; look at the instruction named", details)
        return KernelFailure(Verdict.NO_OUTPUT, f"nothing on serial, and the CPU halted for good at "
                             f"{where} (the test waited for {evidence.expecting}){seen}",
                             "does the kernel set up and write to COM1 (0x3f8) before it halts?", details)
    if evidence.wanted_function is not None:
        summary = f"the CPU halted at {where}, not in {evidence.wanted_function}{seen}"
    else:
        summary = f"the CPU halted for good at {where} while the test waited for {evidence.expecting}; {said}{seen}"
    return KernelFailure(Verdict.FAIL, summary,
                         "an error path halts there, or the kernel stopped before it got that far", details)


def describe_exit(evidence: Evidence) -> str:
    status = evidence.exit_status
    said = f"{exit_meaning(status)} while the test waited for {evidence.expecting}"
    if status == EXIT_FAILURE:
        failed = KTAP_FAILED_TEST.search(evidence.serial_text)
        return said + (f"; first failed test: {shortened(failed.group(1))!r}" if failed else "")
    if status > 0 and status % 2 == 0:
        # No value from isa-debug-exit: QEMU ended on its own, and says why.
        return f"{said}: " + evidence.qemu_messages.strip()
    return said


def exit_meaning(status: int | None) -> str:
    """What QEMU's exit status says the kernel did, in words: the status is
    (v << 1) | 1 of the value v written to isa-debug-exit, so a bare 33 is a
    number to look up, where the kernel reported success. None: no exit,
    as a kernel that must hang ends."""
    if status is None:
        return "QEMU did not exit"
    if status == EXIT_SUCCESS:
        return "the kernel exited with success (isa-debug-exit 0x10, QEMU status 33)"
    if status == EXIT_FAILURE:
        return "the kernel reported failure (isa-debug-exit 0x11, QEMU status 35)"
    if status < 0:
        return f"QEMU was killed by signal {-status}"
    if status == 0:
        return "QEMU exited with status 0 (which is never a pass)"
    if status % 2 == 1:
        # An exit status is one byte: (v << 1) | 1 keeps v's low 7 bits only.
        low_bits = (status - 1) >> 1
        return f"the kernel wrote {low_bits:#x} or {low_bits | 0x80:#x} to isa-debug-exit (QEMU status {status} " \
               f"keeps only the value's low 7 bits)"
    return f"QEMU exited with status {status}"


def panic_line(evidence: Evidence) -> str | None:
    match = PANIC_LINE.search(evidence.serial_text)
    if match is None and evidence.screen is not None:
        match = PANIC_LINE.search(evidence.screen.text())
    return match.group(0) if match else None


def shortened(line: str) -> str:
    """A line the kernel printed, cut to its first SERIAL_LINE_WIDTH characters if longer."""
    return line if len(line) <= SERIAL_LINE_WIDTH else line[:SERIAL_LINE_WIDTH] + f" [... {len(line)} characters]"


def failure_details(evidence: Evidence) -> str:
    """The end of the serial output and the screen, for the failure message."""
    parts = []
    lines = evidence.serial_text.splitlines()
    if lines:
        shown = lines[-SERIAL_LINES_SHOWN:]
        heading = f"serial output (last {len(shown)} of {len(lines)} lines):" if len(lines) > len(shown) \
            else "serial output:"
        parts.append(heading + "\n" + "\n".join("  " + printable(shortened(line)) for line in shown))
    else:
        parts.append("serial output: none")
    if evidence.screen is not None and not evidence.screen.is_blank():
        parts.append("screen:\n" + evidence.screen.render())
    return "\n\n".join(parts)
