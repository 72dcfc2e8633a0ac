"""The harness tests itself: each fixture kernel (harness/fixtures) fails
in one known way, and the harness must name that way, with the evidence a
student needs, within the boot's timeout.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import socket
import sys
import tempfile
import threading
import time
import zlib
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import SimpleNamespace

import pytest

import build as build_module
import host
import halted
import ktap
import scratch
from chapters import artifacts
from isos import iso_with_command_line
import boot_artifacts
from boot_limits import (ARTIFACTS_LIMIT, INTERRUPT_LOG_LIMIT, LOG_KEEP, SERIAL_LIMIT, WALL_CLOCK_ALLOWANCE, WATCHDOG_GRACE,
                         LimitReached, Watchdog, mebibytes)
from diagnosis import Evidence, diagnose
from elf import ElfFile
import gdb_stub
from gdb_stub import GdbStub, GdbStubError
from registers import Registers
from machine import EXIT_FAILURE, EXIT_SUCCESS, Machine
from qemu_process import READ_SIZE, QemuProcess
from qmp import QmpConnection, QmpError
from serial_output import SerialOutput, normalise_line_endings
from vga_screen import COLUMNS, ROWS, Screen
from verdict import KernelFailure, Verdict

# CPU seconds. The fixtures boot with -kernel in 0.1 s: a hang is detected
# by its timeout, which can be short; every other outcome comes by itself,
# and gets time to spare on a loaded machine.
HANG_TIMEOUT = 0.6
TIMEOUT = 5


@pytest.fixture(scope="module")
def fixtures(build):
    return build.fixtures()


def boot_until_failure(boot, image, wait, **options):
    """Boots a fixture, expects the wait to fail; returns the failure and
    the machine, after checking that the timeout was kept."""
    machine = boot(image, **options)
    with pytest.raises(KernelFailure) as caught:
        wait(machine)
    # The bound boot_limits promises for any boot: its watchdog's.
    limit = options["timeout"] * WALL_CLOCK_ALLOWANCE + WATCHDOG_GRACE
    assert machine.elapsed() < limit, f"the diagnosis took {machine.elapsed():.1f} s, more than {limit} s"
    return caught.value, machine


def test_a_kernel_that_exits_with_success_passes(boot, fixtures):
    machine = boot(fixtures / "exit_success.elf", timeout=TIMEOUT)
    assert machine.wait_for_exit() == EXIT_SUCCESS
    machine.expect_exit_success()
    assert machine.failure is None


def test_hang_names_the_last_serial_line(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "hang.elf", lambda m: m.wait_for_exit(),
                                    timeout=HANG_TIMEOUT)
    assert failure.verdict is Verdict.HANG
    assert "last serial line: 'hang fixture: spinning forever now'" in failure.summary
    assert "_start.spin" in failure.summary, "the hang should say where the CPU spins"


def test_a_hung_kernel_judged_spends_no_more_cpu_time(boot, fixtures):
    # Its machine lives on until the test, or the module of a shared boot,
    # ends, for the evidence: stopped, it no longer takes a CPU from the
    # tests beside it, and can still be read.
    _, machine = boot_until_failure(boot, fixtures / "hang.elf", lambda m: m.wait_for_exit(),
                                    timeout=HANG_TIMEOUT)
    judged = machine.cpu_seconds()
    time.sleep(0.5)
    assert machine.cpu_seconds() - judged < 0.1, \
        f"QEMU used {machine.cpu_seconds() - judged:.2f} s of CPU time in the 0.5 s after the verdict"
    assert machine.registers().rip == machine.symbol("_start.spin").value


def test_a_halt_that_waits_names_the_wall_clock(boot, fixtures):
    # Halted with interrupts on, the CPU may yet wake, so the wait runs to
    # its wall time limit; the CPU time it used is no measure of the wait.
    failure, _ = boot_until_failure(boot, fixtures / "masked_halt.elf", lambda m: m.wait_for_exit(),
                                    timeout=HANG_TIMEOUT)
    assert failure.verdict is Verdict.HANG
    assert re.match(r"timed out after [\d.]+ s of wall time \(QEMU used only [\d.]+ s of CPU time in it: "
                    r"a halted guest, or a busy host\) waiting for QEMU to exit; last serial line: 'masked halt "
                    r"fixture: halting with every interrupt line masked'; the CPU is halted at the hlt in "
                    r"_start\.wait_for_an_interrupt\+0x0 \(rip=0x[0-9a-f]+, just past it\)$", failure.summary), \
        failure.summary


def test_silence_is_no_output(boot, fixtures):
    # wrong_text prints nothing on serial and halts: waiting for a line
    # must end in NO_OUTPUT, not in a hang with a last line.
    failure, _ = boot_until_failure(boot, fixtures / "wrong_text.elf", lambda m: m.wait_for_serial("ready"),
                                    timeout=HANG_TIMEOUT)
    assert failure.verdict is Verdict.NO_OUTPUT
    assert "nothing on serial" in failure.summary


def test_a_silent_halt_after_an_exception_names_the_exception(boot, fixtures):
    # An exception before the kernel could print (the serial port not yet
    # set up, a panic with nowhere to go): the silence is no clue to it.
    failure, machine = boot_until_failure(boot, fixtures / "silent_fault.elf", lambda m: m.wait_for_exit(),
                                          timeout=HANG_TIMEOUT)
    assert failure.verdict is Verdict.NO_OUTPUT
    faulting = machine.symbol("faulting_instruction").value
    assert f"after #UD (invalid opcode) at rip={faulting:#x} (faulting_instruction+0x0)" in failure.summary, \
        failure.summary
    assert "COM1" not in failure.hint, failure.hint


def test_a_silent_spin_says_where_the_cpu_spins(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "silent_spin.elf", lambda m: m.wait_for_exit(),
                                    timeout=HANG_TIMEOUT)
    assert failure.verdict is Verdict.NO_OUTPUT
    assert re.search(r"; the CPU is running at rip=0x[0-9a-f]+ \(spin_silently\+0x\d\)$", failure.summary), \
        failure.summary


def test_triple_fault_lists_the_exceptions_before_the_reset(boot, fixtures):
    failure, machine = boot_until_failure(boot, fixtures / "triple_fault.elf", lambda m: m.wait_for_exit(),
                                          timeout=TIMEOUT)
    assert failure.verdict is Verdict.TRIPLE_FAULT
    faulting_read = machine.symbol("faulting_read").value
    assert failure.summary.startswith(
        f"triple fault: #PF (page fault) at rip={faulting_read:#x} (faulting_read+0x0), cr2=0x40000000, "
        "error 0x0 (read of a page not present)"), failure.summary
    assert "so #DF (double fault)" in failure.summary
    assert failure.summary.endswith("then reset")
    # QEMU stays alive, paused, for the post-mortem.
    assert machine.running and machine.triple_faulted


def test_a_triple_fault_from_a_hardware_interrupt_names_the_interrupt(boot, fixtures):
    # The #GP comes at the hlt the timer's interrupt woke: that rip is not
    # the fault, the gate of the interrupt's vector is.
    failure, _ = boot_until_failure(boot, fixtures / "interrupt_without_idt.elf", lambda m: m.wait_for_exit(),
                                    timeout=TIMEOUT)
    assert failure.verdict is Verdict.TRIPLE_FAULT
    assert re.match(r"triple fault: hardware interrupt 0x8 at rip=0x[0-9a-f]+ \(_start\.wait_for_an_interrupt\+0x1\), "
                    r"with interrupts enabled; then #GP while delivering it, error 0x42 \(IDT entry 8\); "
                    r"then #GP while delivering the #GP, so #DF \(double fault\);", failure.summary), failure.summary


def test_a_wanted_triple_fault_is_returned(boot, fixtures):
    machine = boot(fixtures / "triple_fault.elf", timeout=TIMEOUT)
    assert "#PF" in machine.wait_for_triple_fault()


def test_a_reset_the_kernel_asks_for_is_no_triple_fault(boot, fixtures):
    # -no-reboot stops QEMU at any reset of the guest, with the same QMP
    # event as a triple fault's; only the interrupt log tells them apart.
    failure, machine = boot_until_failure(boot, fixtures / "reset.elf", lambda m: m.wait_for_exit(),
                                          timeout=TIMEOUT)
    assert failure.verdict is Verdict.FAIL, failure.describe()
    assert re.fullmatch(r"the kernel reset the machine at rip=0x[0-9a-f]+ \(_start\.wait_for_the_reset\+0x\d\) "
                        r"while the test waited for QEMU to exit; "
                        r"last serial line: 'reset fixture: resetting the machine'", failure.summary), failure.summary
    assert "keyboard controller" in failure.hint
    assert not machine.triple_faulted


def test_a_halt_at_the_end_of_the_function_is_in_it(boot, fixtures):
    # RIP points past the hlt, at the next function: the hlt is what counts.
    machine = boot(fixtures / "hlt_at_the_end.elf", timeout=TIMEOUT)
    registers = machine.wait_until_halted_in("halt_forever")
    assert registers.rip == machine.symbol("after_halt_forever").value


def test_a_breakpoint_never_reached_is_named(boot, fixtures):
    # A play through the gdb stub on a kernel that halts before the place
    # it stops at: the error says which place, not only that the stub was
    # silent. (A stub of its own, with a short timeout.)
    with tempfile.TemporaryDirectory(prefix="gdb-", dir=scratch.directory()) as directory:
        stub = GdbStub(Path(directory) / "gdb.sock", timeout=0.5)
        try:
            machine = boot(fixtures / "hlt_at_the_end.elf", qemu_args=stub.qemu_arguments(), timeout=TIMEOUT)
            never = machine.symbol("after_halt_forever").value
            with pytest.raises(GdbStubError) as caught:
                stub.run_to(never)
        finally:
            stub.close()
    assert f"the CPU did not reach the breakpoint at {never:#x}" in str(caught.value)


def test_a_play_that_loses_the_cpu_to_a_triple_fault_names_it(boot, fixtures, stub):
    # A play through the gdb stub on a kernel that triple-faults before the
    # place it stops at: the stub's own reply, a stop for another reason
    # (T03), says nothing of the fault, which the machine's verdict names.
    machine = boot(fixtures / "triple_fault.elf", qemu_args=stub.qemu_arguments(), timeout=TIMEOUT)
    past_the_fault = machine.symbol("faulting_read").value + 5  # mov eax, [UNMAPPED] is five bytes
    with pytest.raises(GdbStubError) as caught:
        stub.run_to(past_the_fault)
    assert str(caught.value).startswith("TRIPLE_FAULT: triple fault: #PF (page fault) at rip="), caught.value


@pytest.mark.parametrize("options, devices", [
    ({}, {"isa-debug-exit", "isa-serial"}),
    ({"exit_device": False}, {"isa-serial"}),
    ({"uart": False}, {"isa-debug-exit"}),
], ids=["both", "no-exit-device", "no-uart"])
def test_a_machine_leaves_out_the_exit_device_or_the_uart_when_told(boot, fixtures, options, devices):
    # QEMU's own tree of devices says what the machine has.
    machine = boot(fixtures / "hlt_at_the_end.elf", timeout=TIMEOUT, **options)
    machine.wait_until_halted_in("halt_forever")
    tree = machine._monitor().human_monitor("info qtree")
    present = {name for name in ("isa-debug-exit", "isa-serial") if f"dev: {name}," in tree}
    assert present == devices, f"the machine has {sorted(present)}, not {sorted(devices)}:\n{tree}"
    assert bool(machine.serial_text) == ("isa-serial" in devices), machine.serial_text


def test_an_io_port_is_written_and_read_back(boot, fixtures):
    # The UART's scratch register holds what was written, and nothing else.
    scratch_register = 0x3FF
    machine = boot(fixtures / "hlt_at_the_end.elf", timeout=TIMEOUT)
    machine.wait_until_halted_in("halt_forever")
    for value in (0x5A, 0xA5):
        machine.write_port(scratch_register, value)
        assert machine.read_port(scratch_register) == value


def test_a_halt_elsewhere_is_named_by_its_hlt(boot, fixtures):
    # RIP past a hlt at a function's end is the next function's start: a
    # halt described by RIP alone would be "after_halt_forever+0x0, not in
    # after_halt_forever".
    machine = boot(fixtures / "hlt_at_the_end.elf", timeout=TIMEOUT)
    with pytest.raises(KernelFailure) as caught:
        machine.wait_until_halted_in("after_halt_forever")
    rip = machine.symbol("after_halt_forever").value
    assert caught.value.summary.split("; ")[0] == (
        f"the CPU halted at the hlt in halt_forever+0x1 (rip={rip:#x}, just past it), not in after_halt_forever"), \
        caught.value.summary


@pytest.mark.parametrize("kernel, hlt_named", [("sizeless_halt", "halt_forever+0x1"),
                                               ("sizeless_halt_with_a_local_label", "halt_forever.again+0x0")])
def test_a_halt_in_a_label_without_a_size_is_in_it(boot, fixtures, kernel, hlt_named):
    # An assembly label has no size (st_size 0): it reaches to the next
    # label that is not its own local one. Read as empty, it gave "the CPU
    # halted at rip=... (halt_forever+0x2), not in halt_forever".
    machine = boot(fixtures / f"{kernel}.elf", timeout=TIMEOUT)
    assert machine.symbol("halt_forever").size == 0
    registers = machine.wait_until_halted_in("halt_forever")
    assert machine.describe_address(registers.rip - 1) == hlt_named


def test_a_function_without_its_c_name_is_a_verdict(boot, fixtures):
    # halt_forever() declared without extern "C" is _Z12halt_foreverv in
    # the ELF: the test's wait must fail with a verdict, not a KeyError.
    machine = boot(fixtures / "mangled_halt.elf", timeout=TIMEOUT)
    with pytest.raises(KernelFailure) as caught:
        machine.wait_until_halted_in("halt_forever")
    assert caught.value.verdict is Verdict.FAIL
    assert caught.value.summary == "mangled_halt.elf has no symbol 'halt_forever', which the test looks for, " \
                                   "but the C++ name '_Z12halt_foreverv'"
    assert 'extern "C"' in caught.value.hint


def test_a_power_off_is_named_at_once(boot, fixtures):
    # shutdown=pause keeps QEMU, paused, after the guest turns it off: no
    # exit comes, and a paused CPU uses no CPU time.
    failure, machine = boot_until_failure(boot, fixtures / "power_off.elf", lambda m: m.wait_for_exit(),
                                          timeout=TIMEOUT)
    assert failure.verdict is Verdict.FAIL, failure.describe()
    assert failure.summary == "the kernel turned the machine off (an ACPI power-off) while the test waited for " \
                              "QEMU to exit; last serial line: 'power off fixture: turning the machine off'"
    assert machine.elapsed() < 2, f"the power-off was named after {machine.elapsed():.1f} s"


def test_wrong_screen_shows_expected_and_actual(boot, fixtures):
    machine = boot(fixtures / "wrong_text.elf", timeout=TIMEOUT)
    machine.wait_until_halted_in("halt_forever")
    screen = machine.screen()
    with pytest.raises(KernelFailure) as caught:
        screen.expect_text(0, 0, "Hello World!", attribute=0x0A)
    failure = caught.value
    assert failure.verdict is Verdict.FAIL
    assert "expected 'Hello World!' in 0x0a (light green on black) at row 0 column 0, " \
           "found 'Hello Wordl!'" in failure.summary
    assert "row 0 column 9: expected 'l', found 'd'" in failure.details
    assert ">  0 |Hello Wordl!" in failure.details, "the rendering of the screen is missing"

    with pytest.raises(KernelFailure) as caught:
        screen.expect_lines([screen.row_text(0).replace("Wordl", "World")])
    assert "BAD     row 0: expected 'Hello World!" in caught.value.details


def test_right_screen_passes_and_a_wrong_colour_is_named(boot, fixtures):
    machine = boot(fixtures / "wrong_text.elf", timeout=TIMEOUT)
    machine.wait_until_halted_in("halt_forever")
    screen = machine.screen()
    screen.expect_text(0, 0, "Hello Wordl!", attribute=0x0A)
    with pytest.raises(KernelFailure) as caught:
        screen.expect_text(0, 0, "Hello", attribute=0x4F)
    assert caught.value.summary == "wrong colour: 'Hello' at row 0 column 0 is in 0x0a (light green on black), " \
                                   "expected 0x4f (white on red)"


def test_panic_is_quoted(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "panic.elf", lambda m: m.expect_exit_success(),
                                    timeout=TIMEOUT)
    assert failure.verdict is Verdict.PANIC
    # Not the first line, which only mentions the word: the panic itself.
    assert failure.summary == "kernel panic: PANIC at panic.asm:10: the fixture panics on purpose"


def test_a_panic_on_a_timer_tick_names_the_interrupt(boot, fixtures):
    # The kernel's double fault handler takes the timer's tick for a double
    # fault; QEMU's log knows better.
    failure, _ = boot_until_failure(boot, fixtures / "timer_on_exception_vector.elf",
                                    lambda m: m.expect_exit_success(), timeout=TIMEOUT)
    assert failure.verdict is Verdict.PANIC
    assert failure.summary == "kernel panic: PANIC: double fault"
    assert re.match(r"QEMU's log shows hardware interrupt 0x8 at rip=0x[0-9a-f]+ "
                    r"\(_start\.wait_for_an_interrupt\+0x1\), on a vector that belongs to the CPU's exceptions",
                    failure.hint), failure.hint
    assert "remap the PIC" in failure.hint


def test_an_endless_panic_message_is_quoted_short_and_escaped(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "endless_panic.elf", lambda m: m.wait_for_exit(),
                                    timeout=TIMEOUT)
    assert failure.verdict is Verdict.PANIC
    assert failure.summary.startswith("kernel panic: PANIC: the message is \\x1b[2J\\x1b[2J"), failure.summary[:100]
    assert len(failure.summary) < 2000, f"a summary of {len(failure.summary)} characters"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", failure.describe())
    # An in-kernel test's failure begins with its message's first line: likewise.
    serial = "KTAP version 1\n1..1\n# expected a name, got " + "x" * 100_000 + "\nnot ok 1 a\n"
    run = ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), EXIT_SUCCESS, None, serial)
    with pytest.raises(KernelFailure) as caught:
        ktap.check_passed(run, ktap.DeclaredTest("a", "returns"))
    assert caught.value.summary.startswith("not ok 1 a: expected a name, got xxx")
    assert len(caught.value.summary) < 2000, f"a summary of {len(caught.value.summary)} characters"


def test_reported_failure_names_the_failed_test(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "failing_test.elf", lambda m: m.expect_exit_success(),
                                    timeout=TIMEOUT)
    assert failure.verdict is Verdict.FAIL
    assert "the kernel reported failure (isa-debug-exit 0x11, QEMU status 35)" in failure.summary
    assert "first failed test: 'adds_numbers'" in failure.summary
    assert "# expected 4, got 5" in failure.details


def test_a_plan_with_trailing_spaces_is_the_plan(request, boot, fixtures):
    # "1..3  " says what "1..3" says. The boot waits for the plan before it
    # gives the tests their time: a plan it does not see fails the whole
    # run of a kernel whose every test passed.
    kernel = ktap.TestKernel("plan_with_trailing_spaces", EXIT_SUCCESS, timeout=TIMEOUT, boot_timeout=TIMEOUT)
    declared = [ktap.DeclaredTest(name, "returns") for name in ("a", "b", "c")]
    collection = ktap.Collection("harness-fixtures", fixtures, [kernel], {kernel.name: declared}, None)
    run = ktap.KernelRuns(request, collection, boot).run_of(kernel, declared[0])
    assert run.failure is None, run.failure.describe()
    assert run.report.plan == 3
    ktap.check_whole_run(run, declared)


def test_missing_multiboot_header_is_explained(boot, fixtures):
    failure, _ = boot_until_failure(boot, fixtures / "no_multiboot_header.iso", lambda m: m.wait_for_exit(),
                                    timeout=5)
    assert failure.verdict is Verdict.BOOT_REJECTED
    assert failure.summary == "GRUB refused the kernel: 'no multiboot header found'"
    assert "first 32 KiB" in failure.hint or "within 32 KiB" in failure.hint


def test_an_entry_point_outside_the_segments_is_refused_before_the_boot(boot, fixtures):
    # QEMU's -kernel does not check what GRUB checks: the harness does, and
    # boots nothing.
    with pytest.raises(KernelFailure) as caught:
        boot(fixtures / "entry_outside_segments.elf", timeout=TIMEOUT)
    assert caught.value.verdict is Verdict.BOOT_REJECTED
    assert caught.value.summary.startswith("entry_outside_segments.elf's entry point 0x800000 lies in none of its "
                                           "segments"), caught.value.summary
    assert "global _start" in caught.value.hint


def test_an_image_qemus_own_loader_refuses_is_rejected_with_its_words(boot, fixtures, tmp_path):
    # A Multiboot 1 header that asks for the a.out kludge (flags bit 16)
    # gives the load addresses itself; here a load address above the
    # header's own, which -kernel refuses once QMP is connected, before the
    # guest runs.
    image = bytearray((fixtures / "exit_success.elf").read_bytes())
    header = image.find((0x1BADB002).to_bytes(4, "little"))
    flags = 1 << 16
    struct.pack_into("<IIIII", image, header + 4, flags, -(0x1BADB002 + flags) % 2**32,
                     0x100000, 0x200000, 0)  # header_addr, load_addr (above it), load_end_addr
    (tmp_path / "kludge.elf").write_bytes(image)
    with pytest.raises(KernelFailure) as caught:
        boot(tmp_path / "kludge.elf", timeout=TIMEOUT)
    assert caught.value.verdict is Verdict.BOOT_REJECTED, caught.value
    assert caught.value.summary == \
        "QEMU's -kernel loader refused kludge.elf: qemu-system-x86_64: invalid load_addr address"


def test_an_image_the_firmware_cannot_boot_is_refused_at_once(boot, tmp_path):
    # No boot record at all: SeaBIOS tries each disk, says so on the screen
    # and waits, halted with interrupts on, for ever.
    image = tmp_path / "not_bootable.iso"
    image.write_bytes(bytes(2 * 2**20))
    failure, machine = boot_until_failure(boot, image, lambda m: m.wait_for_exit(), timeout=TIMEOUT)
    assert failure.verdict is Verdict.BOOT_REJECTED
    assert failure.summary == "the firmware found nothing to boot: 'Could not read from CDROM (code 0005)'"
    assert "grub-pc-bin" in failure.hint
    assert machine.elapsed() < 2, f"the refusal was named after {machine.elapsed():.1f} s"
    # OVMF says it on serial (escape sequences and all), and starts its shell.
    ovmf = ('\x1b[2J\x1b[01;01HBdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM QM00003 " from '
            'PciRoot(0x0)/Pci(0x1,0x1)/Ata(Secondary,Master,0x0): Not Found\r\n'
            'BdsDxe: starting Boot0002 "EFI Internal Shell" from Fv(7CB8BDC9)/FvFile(7C04A583)\r\n'
            '\x1b[2J\x1b[01;01H\x1b[01;01HUEFI Interactive Shell v2.2\r\n')
    failure = diagnose(Evidence("QEMU to exit", ovmf, boot_loader_text=ovmf))
    assert (failure.verdict, failure.summary) == (Verdict.BOOT_REJECTED, (
        "the firmware found nothing to boot: 'Boot0001 \"UEFI QEMU DVD-ROM QM00003 \": Not Found'"))


def test_grub_waiting_at_its_prompt_is_a_broken_image_named_at_once(boot, fixtures, tmp_path):
    # An image whose grub.cfg GRUB does not find (renamed here in the ISO's
    # directory records, its Rock Ridge name and its ISO 9660 one, in both
    # trees of the hybrid image): GRUB waits at its `grub>` prompt, which
    # no kernel could change. The boot ran to its timeout and blamed the
    # kernel for printing nothing.
    image = (fixtures / "exit_success.iso").read_bytes()
    renamed = image.replace(b"NM\x0d\x01\x00grub.cfg", b"NM\x0d\x01\x00grub.cfx").replace(b"GRUB.CFG;1",
                                                                                              b"GRUB.CFX;1")
    assert renamed != image, "exit_success.iso has no directory record of grub.cfg where the test looks"
    (tmp_path / "no_grub_cfg.iso").write_bytes(renamed)
    failure, machine = boot_until_failure(boot, tmp_path / "no_grub_cfg.iso", lambda m: m.wait_for_exit(),
                                          timeout=TIMEOUT)
    assert (failure.verdict, failure.summary) == (Verdict.BOOT_REJECTED,
                                                  "GRUB stopped at its `grub>` prompt before it booted anything")
    assert "make-iso.sh" in failure.hint
    assert machine.elapsed() < 2, f"GRUB's prompt was named after {machine.elapsed():.1f} s"
    # GRUB's rescue prompt, after the error that sent it there; and a
    # prompt that GRUB left behind once it booted the kernel is none.
    rescue = "error: unknown filesystem.\nEntering rescue mode...\ngrub rescue> "
    failure = diagnose(Evidence("QEMU to exit", "", boot_loader_text=rescue))
    assert (failure.verdict, failure.summary) == (
        Verdict.BOOT_REJECTED,
        "GRUB stopped at its `grub rescue>` prompt before it booted anything: 'unknown filesystem'")
    booted = "grub> boot\n  Booting `kernel'\n\ngrub>"
    assert diagnose(Evidence("QEMU to exit", "", boot_loader_text=booted,
                             timed_out_after=2.0)).verdict is not Verdict.BOOT_REJECTED


def test_failed_build_quotes_make(tmp_path):
    (tmp_path / "Makefile").write_text("all:\n\t@echo 'clang++ -Wall -Werror -c kernel.cpp'\n"
                                       "\t@echo 'kernel.cpp:3: error: expected ;'\n\t@false\n")
    builder = build_module.Builder()
    for _ in range(2):  # the failure is remembered, not rebuilt
        with pytest.raises(KernelFailure) as caught:
            builder.make(tmp_path, "the broken example")
        assert caught.value.verdict is Verdict.BUILD_FAILED
        assert caught.value.summary == "the broken example did not build: kernel.cpp:3: error: expected ;"
    assert "kernel.cpp:3: error: expected ;\n" in (artifacts() / f"build-{tmp_path.name}.log").read_text()
    (artifacts() / f"build-{tmp_path.name}.log").unlink()


def test_missing_tool_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to be found
    with pytest.raises(KernelFailure) as caught:
        host.check()
    assert caught.value.verdict is Verdict.TOOL_MISSING
    assert "qemu-system-x86_64" in caught.value.summary
    assert "sudo apt-get install" in caught.value.hint and "qemu-system-x86" in caught.value.hint


def test_no_qemu_outlives_its_machine(boot, fixtures):
    machine = boot(fixtures / "hang.elf", timeout=TIMEOUT)
    machine.wait_for_serial("spinning forever")
    pid = machine._process.pid
    assert os.path.exists(f"/proc/{pid}")
    machine.close()
    assert not os.path.exists(f"/proc/{pid}"), "QEMU still runs after close()"


def test_failure_artifacts_are_complete(boot, fixtures, tmp_path):
    _, machine = boot_until_failure(boot, fixtures / "triple_fault.elf", lambda m: m.wait_for_exit(),
                                    timeout=TIMEOUT)
    machine.save_artifacts(tmp_path)
    assert "reading an unmapped address" in (tmp_path / "serial.log").read_text()
    assert "Triple fault" in (tmp_path / "qemu.log").read_text()
    assert (tmp_path / "verdict.txt").read_text().startswith("TRIPLE_FAULT: triple fault: #PF")
    assert "RIP=" in (tmp_path / "registers.txt").read_text() or "EIP=" in (tmp_path / "registers.txt").read_text()
    width, height, pixels = _decode_png((tmp_path / "screen.png").read_bytes())
    assert (width, height) == (720, 400), "VGA text mode is 720x400 pixels"
    # The fixture wrote "FAULT" in light red. QEMU 7.2's own PNG writer
    # would show it light blue (red and blue swapped).
    light_red, light_blue = b"\xff\x57\x57", b"\x57\x57\xff"  # QEMU's VGA palette
    assert light_red in pixels and light_blue not in pixels, "the screenshot's colours are wrong"


def _decode_png(png: bytes) -> tuple[int, int, list[bytes]]:
    """Enough of a PNG decoder for what ppm.py writes (8-bit RGB,
    one IDAT, no filters): the size and the pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat_length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + idat_length])
    row = 1 + width * 3
    pixels = b"".join(raw[y * row + 1:(y + 1) * row] for y in range(height))
    return width, height, [pixels[i:i + 3] for i in range(0, len(pixels), 3)]


def test_exception_loop_is_named_and_stopped(boot, fixtures):
    # Each lap writes a register dump to QEMU's log: the harness must stop
    # the boot before the log fills the disk, and say what loops.
    failure, machine = boot_until_failure(boot, fixtures / "exception_loop.elf", lambda m: m.wait_for_exit(),
                                          timeout=10)
    assert failure.verdict is Verdict.HANG
    ud2 = machine.symbol("faulting_instruction").value
    assert failure.summary.startswith(
        f"exception loop: #UD (invalid opcode) at rip={ud2:#x} (faulting_instruction+0x0) again and again"), \
        failure.summary
    assert not machine.running, "QEMU must be stopped once the loop is named: its log grows 20 MB a second"


def test_the_same_exception_handled_again_and_again_is_no_loop(boot, fixtures):
    # Same vector, same rip, 1500 times, but the registers differ each time:
    # a loop of the kernel's own, whose handler skips the instruction.
    machine = boot(fixtures / "handled_exceptions.elf", timeout=10)
    machine.expect_exit_success()
    assert len(machine.exceptions()) == 1500


def test_exception_storm_is_stopped_at_the_interrupt_log_limit(boot, fixtures, tmp_path):
    # No one exception repeats, so no loop can be named: the watchdog stops
    # the boot when the log passes its limit, and the artifacts stay small.
    failure, machine = boot_until_failure(boot, fixtures / "exception_storm.elf", lambda m: m.wait_for_exit(),
                                          timeout=10)
    assert failure.verdict is Verdict.HANG
    assert f"QEMU's interrupt log passed {mebibytes(INTERRUPT_LOG_LIMIT)}" in failure.summary, failure.summary
    assert machine.limit_reached.name == "interrupt log"
    assert not machine.running
    machine.save_artifacts(tmp_path)
    kept = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert kept < 4 * LOG_KEEP, f"{kept} bytes of artifacts kept for one boot"
    assert "bytes of the log left out" in (tmp_path / "qemu.log").read_text()


def test_serial_flood_is_stopped_at_the_serial_limit(boot, fixtures, tmp_path):
    failure, machine = boot_until_failure(boot, fixtures / "serial_flood.elf", lambda m: m.wait_for_exit(),
                                          timeout=10)
    assert failure.verdict is Verdict.FAIL
    assert failure.summary.startswith(
        f"the kernel flooded the serial port: QEMU was stopped because the kernel printed more than "
        f"{mebibytes(SERIAL_LIMIT)} on serial; last whole serial line: "
        "'serial flood fixture: this line comes again and again'"), failure.summary
    assert machine.limit_reached.name == "serial output"
    assert not machine.running
    assert len(machine.serial_text) < SERIAL_LIMIT + READ_SIZE
    machine.save_artifacts(tmp_path)
    assert (tmp_path / "serial.log").stat().st_size < 4 * LOG_KEEP


def test_a_flood_of_one_endless_line_is_quoted_short(boot, fixtures):
    # The verdict's first line goes to the terminal and into the JUnit XML:
    # it quotes the start of a 256 KiB line, not the whole of it.
    failure, machine = boot_until_failure(boot, fixtures / "endless_line.elf", lambda m: m.wait_for_exit(),
                                          timeout=10)
    assert failure.verdict is Verdict.FAIL
    assert machine.limit_reached.name == "serial output"
    assert failure.summary.startswith("the kernel flooded the serial port"), failure.summary
    assert "'endless line fixture: no newline ever endless line fixture:" in failure.summary
    assert len(failure.summary) < 1000, f"a summary of {len(failure.summary)} characters"
    assert len(failure.describe()) < 10_000, f"a failure message of {len(failure.describe())} characters"


def test_control_characters_on_serial_reach_no_terminal(boot, fixtures):
    # pytest prints the failure to the student's terminal, which would act
    # on an escape sequence (clear the screen, hide the report): they are
    # shown as escapes instead, and bytes that are no UTF-8 as U+FFFD.
    failure, machine = boot_until_failure(boot, fixtures / "control_characters.elf",
                                          lambda m: m.expect_exit_success(), timeout=TIMEOUT)
    assert failure.verdict is Verdict.FAIL
    message = failure.describe()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", message), repr(message)
    shown = "control characters fixture: \\x1b[2J\\x1b[31mred\\x1b]0;title\\x07\\x08\\x08\ufffd\ufffd\\x00 end"
    assert shown in failure.details, failure.details
    run = ktap.KernelRun(ktap.TestKernel("control_characters", EXIT_SUCCESS), None, ktap.parse(machine.serial_text),
                         machine.exit_status, None, machine.serial_text)
    assert shown in run.serial_tail()
    # An in-kernel test's message, first line of its failure, likewise.
    serial = "KTAP version 1\n1..1\n# expected 'a', got '\x1b[2J'\nnot ok 1 a\n"
    run = ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), EXIT_SUCCESS, None, serial)
    with pytest.raises(KernelFailure) as caught:
        ktap.check_passed(run, ktap.DeclaredTest("a", "returns"))
    assert caught.value.summary == "not ok 1 a: expected 'a', got '\\x1b[2J'"


def test_what_a_killed_harness_left_is_removed_by_the_next(fixtures):
    # A harness killed mid-boot closes nothing: its boot's directory, with a
    # QEMU log that may have grown to 16 MiB, stays until the next harness
    # starts and finds its process gone.
    booting = ("import sys, time; sys.path.insert(0, sys.argv[1]); from machine import Machine; "
               "print(Machine(sys.argv[2]).work_dir, flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", booting, str(Path(__file__).parent), str(fixtures / "hang.elf")],
                             stdout=subprocess.PIPE, text=True)
    try:
        work_dir = Path(child.stdout.readline().strip())
    finally:
        child.kill()
        child.wait()
    assert work_dir.is_dir() and (work_dir / "qemu.log").exists(), "the killed harness should have left its boot"
    scratch.remove_abandoned()
    assert not work_dir.parent.exists(), f"{work_dir.parent} outlived the harness that made it"
    assert scratch.directory().is_dir(), "a running harness's directory is its own"


def test_output_that_comes_after_the_exit_is_read(tmp_path):
    # QEMU's death is no end of its output: on a loaded machine the
    # harness may see QEMU dead before its last output is read (seen, when
    # the serial port was a pty: a test kernel's whole report lost). A
    # child that keeps the pipe open makes that moment last: the process
    # exits at once, and its output comes 0.3 s later.
    late_writer = "(sleep 0.3; echo '1..1') & exit 33"
    process = QemuProcess(["/bin/sh", "-c", late_writer], tmp_path / "stderr.log")
    try:
        deadline = time.monotonic() + 5
        while process.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        output = b""
        while (chunk := process.read(0.1)) is not None and time.monotonic() < deadline:
            output += chunk
        assert b"1..1" in output, "the end of the output was reported before the output itself"
        assert process.exit_status == 33
    finally:
        process.stop()


def test_a_boots_cpu_time_is_the_cpu_time_qemu_used(tmp_path):
    # Every timeout is in QEMU's CPU time, so that a loaded machine does
    # not make a boot time out: read as anything else (nothing at all), a
    # hang would end only at three times its timeout on the wall clock.
    process = QemuProcess([sys.executable, "-c", "while True: pass"], tmp_path / "stderr.log")
    try:
        started = time.monotonic()
        while process.cpu_seconds() < 0.2 and time.monotonic() - started < 5.0:
            time.sleep(0.01)
        assert 0.2 <= process.cpu_seconds() <= time.monotonic() - started + 0.05, \
            f"{process.cpu_seconds()} s of CPU time in {time.monotonic() - started:.2f} s"
    finally:
        process.stop()


def test_line_endings_are_normalised_across_chunks():
    # "\r\n", "\n" and "\r\r\n" all end a line, wherever a read splits them.
    chunks, pending, text = ["one\r", "\ntwo\r\r", "\nthree\rfour\n", "five\r"], "", ""
    for chunk in chunks:
        normalised, pending = normalise_line_endings(pending + chunk)
        text += normalised
    assert (text, pending) == ("one\ntwo\nthree\rfour\nfive", "\r")


def test_a_screen_out_of_text_mode_is_not_called_blank(boot, fixtures):
    # In a graphics mode the VGA decodes no memory at 0xb8000, which reads
    # 0xff: cells that would show as blanks (0xff is a non-breaking space).
    machine = boot(fixtures / "graphics_mode.elf", timeout=TIMEOUT)
    machine.wait_until_halted_in("halt_forever")
    screen = machine.screen()
    with pytest.raises(KernelFailure) as caught:
        screen.expect_text(0, 0, "Hello World!")
    assert caught.value.verdict is Verdict.FAIL
    assert caught.value.hint.startswith("no text screen: every byte at 0xb8000 reads 0xff"), caught.value.hint
    assert "the VGA is not in text mode" in screen.render()
    assert not screen.is_blank()


def test_lines_ended_the_other_way_round_still_match(boot, fixtures):
    # With "\n\r", the "\r" left at the start of the next line would keep
    # a wait for /^1..N$/ from ever matching.
    machine = boot(fixtures / "line_feed_first.elf", timeout=TIMEOUT)
    assert machine.wait_for_serial(r"^1\.\.(\d+)$")[1] == "1"
    machine.expect_exit_success()
    assert machine.serial_lines == ["KTAP version 1", "1..1", "ok 1 line_feed_first"]
    # Wherever a read cuts the output.
    serial = SerialOutput()
    for chunk in (b"\rone\n", b"\rtwo\n\r", b"three\rfour"):
        serial.take(chunk)
    assert serial.text == "one\ntwo\nthree\rfour"


def test_screen_shows_every_byte_as_one_glyph():
    # Cell i holds byte i % 256: control bytes must not break the rendering
    # into extra lines, and each shows as the IBM PC drew it.
    screen = Screen(bytes(byte for i in range(COLUMNS * ROWS) for byte in (i % 256, 0x07)))
    assert len(screen.render().splitlines()) == ROWS + 2
    assert screen.cell(0, 0).character == " "
    assert screen.cell(0, 10).character == "\u25d9"  # 0x0a
    assert screen.cell(3, 14).character == "\u25a0"  # 0xfe, the block chapter 3 prints for non-ASCII


def test_a_multiboot2_elf_boots_through_a_grub_iso_made_once(boot, fixtures):
    # QEMU's -kernel cannot load it: the harness makes an ISO with the
    # command line in its grub.cfg, boots that, and keeps it for next time.
    command_line = "tests=selfcheck"
    machine = boot(fixtures / "multiboot2_exit.elf", command_line=command_line, timeout=TIMEOUT)
    assert machine.through_grub
    assert machine.wait_for_exit() == EXIT_SUCCESS
    iso = Path(machine.command[machine.command.index("-cdrom") + 1])
    assert f"/boot/kernel.elf {command_line}".encode() in iso.read_bytes(), "no command line in the ISO's grub.cfg"
    assert iso_with_command_line(machine.elf, command_line) == iso, "the ISO was not kept for the next boot"


def test_a_hang_before_the_test_runner_is_one_failure(tmp_path):
    # The kernel's three tests and its whole-run item all depend on the one
    # boot that never reached its runner: one item fails with the
    # diagnosis, the others are skipped naming it, the kernel boots once,
    # and the failed item keeps its artifacts.
    module = Path(__file__).parent / "fixtures" / "kernel_runs_of_a_hang_before_the_runner.py"
    results = tmp_path / "results.xml"
    kept = artifacts() / "fixtures-kernel_runs_of_a_hang_before_the_runner.py-test_in_kernel-" \
                         "hang_before_runner-first_declared_test" / "boot-1-hang_before_runner"
    shutil.rmtree(kept.parent, ignore_errors=True)  # what an earlier run kept proves nothing
    # Under xdist, as make test runs: the boot's items share one worker, the
    # workers report their time, and names carry no group.
    finished = subprocess.run([sys.executable, "-m", "pytest", str(module), f"--junitxml={results}", "-q",
                               "-n", "2", "--dist", "loadgroup"], capture_output=True, text=True, timeout=120)
    output = finished.stdout + finished.stderr
    cases = ElementTree.parse(results).getroot().iter("testcase")
    outcomes = {case.get("name").split("@")[0]: [child.tag for child in case if child.tag in ("failure", "skipped")]
                for case in cases}
    assert outcomes == {
        "test_in_kernel[hang_before_runner-first_declared_test]": ["failure"],
        "test_in_kernel[hang_before_runner-second_declared_test]": ["skipped"],
        "test_in_kernel[hang_before_runner-should_panic_declared_test]": ["skipped"],
        "test_kernel_reports_every_test[hang_before_runner]": ["skipped"],
        "test_the_kernel_booted_once[hang_before_runner]": [],
    }, output
    assert "HANG: timed out after" in output and "'hang before runner fixture: setting up, forever'" in output
    assert "not run: the boot of hang_before_runner failed before its test runner started, HANG " \
           "(reported by first_declared_test)" in output
    assert (kept / "verdict.txt").read_text().startswith("HANG: timed out after"), output
    assert "setting up, forever" in (kept / "serial.log").read_text()
    # The run ends saying where its time went: the slowest items, and the
    # boot's time (at least the 0.6 s of CPU it hung for) in its category.
    summary = output[output.index("where the time went"):]
    assert "test_in_kernel[hang_before_runner-first_declared_test]" in summary, output
    boot_seconds = re.search(r"wall time in build [\d.]+ s, boot ([\d.]+) s, UEFI 0.0 s, browser 0.0 s", summary)
    assert boot_seconds and float(boot_seconds[1]) >= HANG_TIMEOUT, summary


def test_a_chapter_that_does_not_build_is_one_failure(tmp_path):
    # A workspace whose chapter 5 has no Makefile: its build fails at once.
    # test_chapter_builds fails with the build's verdict, and every other
    # item of the module is skipped naming it, instead of failing on a
    # kernel that is not there (a KeyError, a missing ELF file).
    (tmp_path / "chapters" / "05-cpu-exceptions").mkdir(parents=True)
    results = tmp_path / "results.xml"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    environment["KERNEL_WORKSPACE"] = str(tmp_path)
    finished = subprocess.run([sys.executable, "-m", "pytest", "harness/test_05_cpu_exceptions.py", "-q", "-n", "0",
                               "-p", "no:cacheprovider", f"--junitxml={results}"], cwd=Path(__file__).parent.parent,
                              env=environment, capture_output=True, text=True, timeout=120)
    output = finished.stdout + finished.stderr
    outcomes = {case.get("name"): [(child.tag, child.get("message", "")) for child in case
                                   if child.tag in ("failure", "error", "skipped")]
                for case in ElementTree.parse(results).getroot().iter("testcase")}
    built = outcomes.pop("test_chapter_builds", None)
    assert built and built[0][0] == "failure" and "BUILD_FAILED" in built[0][1], output
    others = {name: outcome for name, outcome in outcomes.items()
              if [tag for tag, _ in outcome] != ["skipped"]
              or "not run: chapter 05-cpu-exceptions did not build" not in outcome[0][1]}
    assert outcomes and not others, (f"{len(others)} items are not skipped naming the build's failure, "
                                     f"the first: {list(others.items())[:3]}")


def test_one_chapter_selected_builds_only_that_chapter(tmp_path):
    # A student's loop (--chapter 02) must not wait for every other chapter
    # to build while pytest collects. make is watched through a wrapper
    # first on PATH that notes each directory it is asked to build.
    calls = tmp_path / "make-calls"
    wrapper = tmp_path / "make"
    wrapper.write_text(f'#!/bin/sh\nfor a; do case "$a" in chapters/*) echo "$a" >> {calls};; esac; done\n'
                       f'exec {shutil.which("make")} "$@"\n')
    wrapper.chmod(0o755)
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    finished = subprocess.run([sys.executable, "-m", "pytest", str(Path(__file__).parent), "--chapter", "05",
                               "--collect-only", "-q"], capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert set(calls.read_text().split()) == {"chapters/05-cpu-exceptions"}, finished.stdout
    # Nor for the tests of the book and of make run and make gdb, which
    # check the book and the project's scripts, not the student's kernel.
    selected = finished.stdout.splitlines()
    assert any(line.startswith("test_05_cpu_exceptions.py::") for line in selected), finished.stdout
    not_the_kernels = [line for line in selected
                       if line.startswith(("test_book", "test_build_along", "test_make_run", "test_make_gdb"))]
    assert not not_the_kernels, f"--chapter 05 selects tests of the book or of the commands: {not_the_kernels}"


def test_the_ubsan_run_leaves_out_what_the_sanitizer_does_not_change():
    # The UBSan build changes the kernels, not their images nor the
    # commands around them: --ubsan runs chapter 03's own tests, and of the
    # image's only the boot under UEFI, where the kernel finds no text mode.
    here = Path(__file__).parent
    finished = subprocess.run([sys.executable, "-m", "pytest", *(str(here / module) for module in (
        "test_03_vga_text.py", "test_images.py", "test_make_gdb.py")), "--ubsan", "--chapter", "03",
        "--collect-only", "-q"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    items = [line for line in finished.stdout.splitlines() if "::" in line]
    assert {item.split("::")[0] for item in items} == {"test_03_vga_text.py", "test_images.py"}, finished.stdout
    assert [item for item in items if item.startswith("test_images.py")] == [
        "test_images.py::test_image_boots_from_a_disk[03-vga-text-uefi-usb]"], finished.stdout


def test_a_diagnosis_needs_only_its_evidence():
    # diagnose() is a pure function: evidence written by hand, no QEMU.
    flood = Evidence("QEMU to exit", "boot\nthe same line\nthe same line\nthe sa",
                     limit_reached=LimitReached("serial output", "the kernel printed more than 256 KiB on serial"))
    failure = diagnose(flood)
    assert (failure.verdict, failure.summary) == (Verdict.FAIL, (
        "the kernel flooded the serial port: QEMU was stopped because the kernel printed more than 256 KiB "
        "on serial; last whole serial line: 'the same line'"))
    silent = diagnose(Evidence("QEMU to exit", "", timed_out_after=2.0))
    assert (silent.verdict, silent.summary) == (
        Verdict.NO_OUTPUT, "nothing on serial after 2 s of QEMU CPU time (waiting for QEMU to exit)")
    assert "serial output: none" in silent.details
    panic = diagnose(Evidence("QEMU to exit", "ok 1 a\n# PANIC at x.cpp:3: broken\n", exit_status=35))
    assert (panic.verdict, panic.summary) == (Verdict.PANIC, "kernel panic: # PANIC at x.cpp:3: broken")


@pytest.mark.parametrize("line, verdict", [
    ("# running nested: a panic in a panic must not recurse", Verdict.HANG),
    ("the test expects a panic: none came", Verdict.HANG),
    ("# KERNEL PANIC at vga.cpp:42: cursor out of the screen", Verdict.PANIC),
    ("panic: out of frames", Verdict.PANIC),
], ids=["mentioned-in-a-line", "mentioned-before-a-colon", "kernel-panic-at", "panic-colon"])
def test_a_panic_is_a_line_that_starts_with_one(line, verdict):
    # A test kernel's diagnostics speak of panics all the time: a hang
    # that printed such a line last is no panic, and calling it one sends
    # the student to look for a panic message that was never printed.
    failure = diagnose(Evidence("QEMU to exit", f"booting\n{line}\n", timed_out_after=2.0))
    assert failure.verdict is verdict, failure.summary


def test_a_panic_shown_only_on_the_screen_is_a_panic():
    # A kernel whose serial port broke may still show its panic on screen.
    screen = bytearray(b" \x07" * (COLUMNS * ROWS))
    text = b"KERNEL PANIC at serial.cpp:12: busy"
    screen[:2 * len(text):2] = text
    failure = diagnose(Evidence("QEMU to exit", "booting\n", screen=Screen(bytes(screen)), timed_out_after=2.0))
    assert (failure.verdict, failure.summary) == (Verdict.PANIC, "kernel panic: KERNEL PANIC at serial.cpp:12: busy")


def test_a_failure_reads_verdict_then_hint_then_details():
    # What pytest shows of every failure: the message alone, as it is.
    failure = KernelFailure(Verdict.HANG, "timed out", "look after the last line", "serial output:\n  booting\n")
    assert str(failure) == failure.describe() == (
        "HANG: timed out\nhint: look after the last line\n\nserial output:\n  booting")
    assert str(KernelFailure(Verdict.FAIL, "wrong screen")) == "FAIL: wrong screen"


def test_a_kernels_own_error_line_is_no_refusal_of_grubs():
    # Under UEFI, GRUB's console and the kernel's output share the serial
    # port: GRUB's refusal is followed by its wait for a key, a kernel's
    # "error: " line is not.
    serial = ("\x1b[2J\x1b[01;01H  Booting `harness fixture err_line'\r\n\r\n"
              "error: the kernel's own message, not GRUB's\r\nstill running\r\n")
    failure = diagnose(Evidence("serial output matching /ready/", serial.replace("\r", ""), timed_out_after=2.0,
                                boot_loader_text=serial))
    assert failure.verdict is Verdict.HANG, failure.summary
    refused = serial.replace("still running", "\r\nPress any key to continue...")
    failure = diagnose(Evidence("serial output matching /ready/", "", boot_loader_text=refused))
    assert (failure.verdict, failure.summary) == (
        Verdict.BOOT_REJECTED, "GRUB refused the kernel: \"the kernel's own message, not GRUB's\"")


def test_an_entry_point_outside_the_kernel_is_explained():
    # GRUB's screen when the ELF's entry point lies in no loaded segment,
    # after its complaint, before the menu, of a module the ISO leaves out.
    grub_screen = ("error: file `/boot/grub/i386-pc/efi_gop.mod' not found.\n"
                   "  Booting `kernel'\n\nerror: entry point isn't in a segment.\n"
                   "error: you need to load the kernel first.\n\nPress any key to continue...")
    failure = diagnose(Evidence("the CPU to halt in halt_forever", "", boot_loader_text=grub_screen))
    assert (failure.verdict, failure.summary) == (Verdict.BOOT_REJECTED,
                                                  "GRUB refused the kernel: \"entry point isn't in a segment\"")
    assert "readelf -lh kernel.elf" in failure.hint, failure.hint


def test_a_cpu_outside_the_kernel_is_said_to_be(fixtures):
    # A jump through a bad pointer: no function holds RIP, nor does any
    # segment of the kernel.
    registers = Registers("EIP=d0080fa8 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0")
    failure = diagnose(Evidence("QEMU to exit", "jumping\n", registers=registers, timed_out_after=2.0,
                                elf=ElfFile(fixtures / "hang.elf")))
    assert failure.summary.endswith("; the CPU is running at rip=0xd0080fa8 (outside every segment of hang.elf)"), \
        failure.summary


def test_an_unknown_exit_code_is_not_misread():
    # QEMU's status (v << 1) | 1 is one byte: 0xff and 0x7f both end in 255.
    failure = diagnose(Evidence("QEMU to exit", "writing 0xff\n", exit_status=255))
    assert (failure.verdict, failure.summary) == (Verdict.FAIL, (
        "the kernel wrote 0x7f or 0xff to isa-debug-exit (QEMU status 255 keeps only the value's low 7 bits) "
        "while the test waited for QEMU to exit; last serial line: 'writing 0xff'"))


@pytest.mark.parametrize("status, qemu_messages, summary", [
    (0, "", "QEMU exited with status 0 (which is never a pass) while the test waited for QEMU to exit"),
    (-9, "", "QEMU was killed by signal 9 while the test waited for QEMU to exit"),
    (2, "qemu-system-x86_64: terminating on signal 15\n", "QEMU exited with status 2 while the test waited for "
                                                         "QEMU to exit: qemu-system-x86_64: terminating on signal 15"),
], ids=["zero", "signal", "qemus-own"])
def test_an_exit_that_is_no_kernels_is_said_to_be_qemus(status, qemu_messages, summary):
    # Only an odd status carries a value the kernel wrote: any other is
    # QEMU's own ending, which the student must not read as the kernel's.
    failure = diagnose(Evidence("QEMU to exit", "booting\n", exit_status=status, qemu_messages=qemu_messages))
    assert (failure.verdict, failure.summary) == (Verdict.FAIL, f"{summary}; last serial line: 'booting'")


def test_a_test_without_a_result_says_how_the_kernel_exited_in_words():
    # QEMU's status is (v << 1) | 1 of what the kernel wrote: 33 alone reads
    # as a number to look up, not as the kernel's success.
    declared = [ktap.DeclaredTest(name, "returns") for name in ("a", "b")]
    serial = "KTAP version 1\n1..2\n# running a\nok 1 a\n# running b\n"
    run = ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), EXIT_SUCCESS, None, serial)
    with pytest.raises(KernelFailure) as caught:
        ktap.check_passed(run, declared[1])
    assert caught.value.summary == "b did not finish: the kernel exited with success (isa-debug-exit 0x10, " \
                                   "QEMU status 33)"


def test_a_run_that_ends_otherwise_says_both_endings_in_words():
    # Every test passed, yet the kernel reported failure: 35 against 33
    # would be two numbers to look up.
    declared = [ktap.DeclaredTest("a", "returns")]
    serial = "KTAP version 1\n1..1\n# running a\nok 1 a\n"
    run = ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), EXIT_FAILURE, None, serial)
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(run, declared)
    assert str(caught.value).startswith(
        "k: the kernel reported failure (isa-debug-exit 0x11, QEMU status 35), where it must end as: "
        "the kernel exited with success (isa-debug-exit 0x10, QEMU status 33)\n"), caught.value


def test_a_report_of_other_tests_names_them():
    # A complete, well-numbered report whose names are not the declared
    # ones: the failure says which are extra, missing or repeated.
    declared = [ktap.DeclaredTest(name, "returns") for name in ("a", "b", "c")]
    serial = "KTAP version 1\n1..3\nok 1 a\nok 2 a\nok 3 made_up\n"
    run = ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), EXIT_SUCCESS, None, serial)
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(run, declared)
    assert str(caught.value).splitlines()[0] == ("k reported other tests than it declares, or in another order: "
                                                 "not declared: made_up; not reported: b, c; reported twice: a")


def whole_run(serial: str, exit_status: int = EXIT_SUCCESS, triple_faulted: bool = False) -> ktap.KernelRun:
    return ktap.KernelRun(ktap.TestKernel("k", EXIT_SUCCESS), None, ktap.parse(serial), exit_status, None, serial,
                          triple_faulted=triple_faulted)


def test_a_whole_run_with_a_test_failed_or_skipped_names_it():
    # A kernel that counts its failures wrong still exits with success:
    # the results alone must fail the run.
    declared = [ktap.DeclaredTest(name, "returns") for name in ("a", "b", "c")]
    run = whole_run("KTAP version 1\n1..3\nok 1 a\nnot ok 2 b\nok 3 c # SKIP no screen\n")
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(run, declared)
    assert str(caught.value).splitlines()[0] == "k: failed b, c"
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(run, declared, skipped=frozenset({"c"}))
    assert str(caught.value).splitlines()[0] == "k: failed b"


def test_a_whole_run_short_of_its_plan_is_incomplete():
    # Every declared test reported and passed, but the kernel planned one
    # more: a test it runs and nobody declared, which stopped the output.
    declared = [ktap.DeclaredTest(name, "returns") for name in ("a", "b")]
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(whole_run("KTAP version 1\n1..3\nok 1 a\nok 2 b\n"), declared)
    assert str(caught.value).splitlines()[0] == "k: only 2 of 3 planned results: output stopped"


def test_a_whole_run_that_triple_faulted_fails_whatever_it_reported():
    declared = [ktap.DeclaredTest("a", "returns")]
    run = whole_run("KTAP version 1\n1..1\nok 1 a\n", triple_faulted=True)
    with pytest.raises(AssertionError) as caught:
        ktap.check_whole_run(run, declared)
    assert str(caught.value).splitlines()[0] == "k triple-faulted"


def test_a_test_that_reports_undefined_behaviour_failed_whatever_its_result_line_says():
    # A test that waits for a panic counts the panic as its pass; one that
    # the sanitizer's report caused is no pass. Only a --ubsan run boots
    # kernels that report it; this holds the parser to it in every run.
    panic = "# KERNEL PANIC at tests/x.cpp:12: {}\nok 1 a\n"
    report = ktap.parse("KTAP version 1\n1..2\n# running a\n" + panic.format("EXPECT_PANIC reached") +
                        "# running b\n" + panic.format("undefined behaviour at tests/x.cpp:12:9: signed integer "
                                                        "overflow").replace("ok 1 a", "ok 2 b"))
    assert [(result.name, result.ok) for result in report.results] == [("a", True), ("b", False)]


def test_artifacts_past_their_limit_keep_only_the_verdict(tmp_path):
    # Once a run's artifacts pass their limit, a failed boot adds a few
    # hundred bytes, not its logs: a sparse file stands for earlier ones.
    all_artifacts = tmp_path / "test-artifacts"
    all_artifacts.mkdir()
    with (all_artifacts / "earlier.log").open("wb") as earlier:
        earlier.truncate(ARTIFACTS_LIMIT + 1)
    log = tmp_path / "qemu.log"
    log.write_text("v=0e\n" * 100_000)
    record = boot_artifacts.BootRecord(serial_text="booted\n", interrupt_log=log, qemu_messages=tmp_path / "none",
                                       screenshot=tmp_path / "none.png", screen=None, registers=None,
                                       verdict="HANG: made up", command=["qemu"], exit_status=-9)
    boot_artifacts.save(record, all_artifacts / "boot-1", all_artifacts)
    assert [path.name for path in (all_artifacts / "boot-1").iterdir()] == ["verdict.txt"]
    assert f"passed {mebibytes(ARTIFACTS_LIMIT)}" in (all_artifacts / "boot-1" / "verdict.txt").read_text()
    (all_artifacts / "earlier.log").unlink()
    boot_artifacts.save(record, all_artifacts / "boot-2", all_artifacts)
    kept = all_artifacts / "boot-2" / "qemu.log"
    assert 2 * LOG_KEEP - 100 < kept.stat().st_size < 2 * LOG_KEEP + 200, "the log's first and last 64 KiB"


def test_a_chapters_kernel_runs_give_no_machines_for_another_chapters_item(tmp_path):
    # test_uefi.py keeps the test kernels' runs of chapters 04-06 in one
    # module, and each item's evidence is looked for in all of them. The
    # runs of chapter 04, which has no unhandled_exception kernel, were
    # asked about an item of chapter 05's, a test that panics, and raised
    # KeyError: make test-uefi ended in an INTERNALERROR.
    request = SimpleNamespace(session=None, module=SimpleNamespace(__name__="made_up"))
    unit_tests = ktap.TestKernel("unit_tests", EXIT_SUCCESS)
    chapter_04 = ktap.Collection("04-testing", tmp_path, [unit_tests],
                                 {"unit_tests": [ktap.DeclaredTest("a", "returns")]}, None)
    runs = ktap.KernelRuns(request, chapter_04, shared_boot=None)
    panics = ktap.DeclaredTest("exceptions_unhandled_page_fault_panics", "panics")
    item = SimpleNamespace(callspec=SimpleNamespace(params={
        "chapter": "05-cpu-exceptions", "kernel": ktap.TestKernel("unhandled_exception", EXIT_SUCCESS),
        "test": panics}))
    assert runs.machines_of(item) == []


@pytest.mark.parametrize("ingredient", ["make-iso.sh", "grub.cfg.in"])
def test_an_iso_made_for_a_command_line_is_made_anew_when_what_makes_it_changes(fixtures, tmp_path, monkeypatch,
                                                                                ingredient):
    # The ISO cache outlives a run: an ISO named after the kernel alone
    # would keep booting what an older make-iso.sh or grub.cfg.in made.
    # A stand-in script that only writes its output keeps this to
    # milliseconds, and the real cache untouched.
    script, template = tmp_path / "make-iso.sh", tmp_path / "grub.cfg.in"
    script.write_text('#!/bin/sh\necho "$@" > "$3"\n')
    script.chmod(0o755)
    template.write_text("menuentry\n")
    monkeypatch.setattr("isos.CACHE", tmp_path / "cache")
    monkeypatch.setattr("isos.MAKE_ISO", script)
    monkeypatch.setattr("isos.GRUB_CONFIG_TEMPLATE", template)
    elf = ElfFile(fixtures / "multiboot2_exit.elf")
    before = iso_with_command_line(elf, "tests=selfcheck")
    changed = tmp_path / ingredient
    changed.write_text(changed.read_text() + "# changed\n")
    after = iso_with_command_line(elf, "tests=selfcheck")
    assert after != before, f"the harness kept booting an ISO made before {ingredient} changed: " \
        f"isos.py must make the ISO anew when {ingredient} changes"
    assert after.exists() and not before.exists(), \
        "the ISO made before the change was left in the cache: a newer ISO of the same kernel and command line " \
        "replaces it"


# --- the waits, on a guest made up by hand ----------------------------------------------------------
# A wait's logic is machine.py's own: whether it returns early, reads a
# line before it has all come, or never times out shows on a QEMU whose
# output and end are written out here, in milliseconds.

RUNNING = "RIP=0000000000100010 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0"
HALTED_FOR_GOOD = RUNNING.replace("HLT=0", "HLT=1")


class ScriptedQemu:
    """A stand-in for QemuProcess and QMP: a guest that prints each chunk
    of `output`, a list of (seconds after the start, bytes), exits with
    `exit_status` at `exits_at` seconds if given, and whose registers are
    `registers` (HALTED_FOR_GOOD: halted with interrupts off). Its CPU
    time is its wall time. Its end shows first to alive(), then to read():
    with `limit`, the watchdog kills it at that moment, for that limit,
    after the wait looked for a limit and before it saw QEMU gone. The
    bytes `in_the_pipe` come only after a look at the registers: the kernel
    printed them, then halted, and the harness saw the halt first."""

    def __init__(self, output: list[tuple[float, bytes]], exits_at: float | None = None, exit_status: int = 33,
                 registers: str = RUNNING, events: list[dict] = (), limit: LimitReached | None = None,
                 in_the_pipe: bytes = b""):
        self.started = time.monotonic()
        self.exit_status: int | None = None
        self.limit_reached = None  # the watchdog's, which this stands in for too
        self._output = list(output)
        self._exits_at = exits_at
        self._status = exit_status
        self._registers = registers
        self._events = list(events)
        self._limit = limit
        self._ended = False
        self._in_the_pipe = in_the_pipe

    def _now(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        if self._exits_at is not None and self._now() >= self._exits_at and not self._ended:
            self._ended, self.limit_reached = True, self._limit
        return not self._ended

    def read(self, wait: float) -> bytes | None:
        deadline = time.monotonic() + wait
        while True:
            if self._output and self._output[0][0] <= self._now():
                return self._output.pop(0)[1]
            if not self._output and self._ended:
                self.reap()
                return None
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.001)

    def reap(self) -> None:
        self.exit_status = self._status

    cpu_seconds = wall_seconds = _now

    def kill(self) -> None:
        self._exits_at, self._status = min(self._exits_at or 0.0, self._now()), -9

    def stop(self) -> None:
        pass

    close = reached = stop

    def poll_events(self) -> list[dict]:
        return self._events

    def human_monitor(self, command_line: str) -> str:
        assert command_line == "info registers", command_line
        if self._in_the_pipe:
            self._output.insert(0, (0.0, self._in_the_pipe))
            self._in_the_pipe = b""
        return self._registers

    def execute(self, command: str, **arguments) -> None:
        raise QmpError(f"{command}: the made-up QEMU has no memory or screen")


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """scripted(ScriptedQemu(...), timeout=1.0) -> a Machine of that guest."""
    machines = []

    monkeypatch.setattr("run_timings.record", lambda kind, seconds: None)  # no boot's time

    def machine_of(qemu: ScriptedQemu, timeout: float = 1.0) -> Machine:
        def start(self, qemu_args, command_line):
            self._process = self._watchdog = self._qmp = qemu
        monkeypatch.setattr(Machine, "_start", start)
        machines.append(Machine(tmp_path / "scripted.iso", timeout=timeout))
        return machines[-1]

    yield machine_of
    for machine in machines:
        machine.close()


def test_each_wait_for_serial_reads_on_from_the_previous_match(scripted):
    # Like pexpect's expect: a test that waits for a line twice wants two
    # of them. "spinning" comes once: the second wait for it must not
    # find the first one's line again, nor one before it.
    machine = scripted(ScriptedQemu([(0.0, b"fixture: started\nfixture: spinning\n")]), timeout=0.3)
    assert machine.wait_for_serial(r"^fixture: (\w+)")[1] == "started"
    assert machine.wait_for_serial(r"^fixture: (\w+)")[1] == "spinning"
    with pytest.raises(KernelFailure) as caught:
        machine.wait_for_serial("spinning")
    assert caught.value.verdict is Verdict.HANG
    assert caught.value.summary.startswith("timed out after "), caught.value.summary


def test_a_line_on_its_way_is_matched_once_it_has_all_come(scripted):
    # $ matches where the output so far ends: "1..1" of "1..12" is no plan of one test.
    machine = scripted(ScriptedQemu([(0.0, b"1..1"), (0.05, b"2\nok 1 a\n")]))
    assert machine.wait_for_serial(r"^1\.\.(\d+)$")[1] == "12"
    # Once the kernel can print no more, its last line is whole as it is.
    for ending in ({"exits_at": 0.05}, {"registers": HALTED_FOR_GOOD}):
        machine = scripted(ScriptedQemu([(0.0, b"ok 1 a\nready")], **ending))
        assert machine.wait_for_serial(r"^ready$")[0] == "ready"


def test_what_came_before_a_halt_is_read_after_it(scripted):
    # A kernel that prints its last line and halts at once: the harness
    # may see the halt while the line is still in the pipe.
    qemu = ScriptedQemu([(0.0, b"booting\n")], registers=HALTED_FOR_GOOD, in_the_pipe=b"ready\n")
    assert scripted(qemu).wait_for_serial("^ready$")[0] == "ready"


def test_a_wait_ends_at_its_own_timeout(scripted):
    # A test's short wait in a boot with time to spare: for a line that
    # never comes, the wait fails when its own time is up.
    machine = scripted(ScriptedQemu([(0.0, b"waiting\n")]), timeout=5.0)
    with pytest.raises(KernelFailure) as caught:
        machine.wait_for_serial("never", timeout=0.2)
    assert machine.elapsed() < 2.5, f"the wait of 0.2 s took {machine.elapsed():.1f} s"  # the boot has 5
    assert re.fullmatch(r"timed out after [0-2]\.\d s of QEMU CPU time waiting for serial output matching /never/; "
                        r"last serial line: 'waiting'", caught.value.summary), \
        caught.value.summary


def test_an_exit_the_watchdog_caused_is_no_answer(scripted):
    # The watchdog kills QEMU from its own thread: a wait may see QEMU gone
    # after it looked for a limit, and its exit status -9 is no exit of
    # the kernel's.
    cpu_time = LimitReached("CPU time", "QEMU used more than 3 s of CPU time")
    machine = scripted(ScriptedQemu([(0.0, b"counting\n")], exits_at=0.05, exit_status=-9, limit=cpu_time))
    with pytest.raises(KernelFailure) as caught:
        machine.wait_for_exit()
    assert (caught.value.verdict, caught.value.summary) == (Verdict.HANG, (
        "QEMU was stopped because QEMU used more than 3 s of CPU time, waiting for QEMU to exit; "
        "last serial line: 'counting'"))


@pytest.mark.parametrize("wait", [Machine.wait_for_exit, Machine.wait_until_halted,
                                  lambda machine: machine.wait_for_serial("^ok 1")])
def test_undefined_behaviour_fails_every_wait(scripted, wait):
    # Only a --ubsan run boots kernels that report it: this holds the
    # waits to it in every run. The report is a panic, which halts or
    # exits as the test may have wanted, and no test wants it.
    report = b"# KERNEL PANIC at x.cpp:3: undefined behaviour at x.cpp:3:9: signed integer overflow\nok 1 a\n"
    machine = scripted(ScriptedQemu([(0.0, report)], exits_at=0.05, registers=HALTED_FOR_GOOD))
    with pytest.raises(KernelFailure) as caught:
        wait(machine)
    assert (caught.value.verdict, caught.value.summary) == (Verdict.PANIC, (
        "kernel panic: # KERNEL PANIC at x.cpp:3: undefined behaviour at x.cpp:3:9: signed integer overflow"))


# --- the gdb stub's client, against a stub made up by hand -----------------------------------------

class MadeUpGdbStub:
    """QEMU's end of the gdb stub: connects to the client's socket as QEMU
    would, acknowledges each packet and answers with `answer(data)`;
    `packets` keeps what the client sent."""

    def __init__(self, socket_path: Path, answer):
        self.packets: list[str] = []
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, args=(socket_path,), daemon=True)
        self._thread.start()

    def _serve(self, socket_path: Path) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(socket_path))
            received = b""
            while chunk := connection.recv(4096):
                received += chunk
                while (end := received.find(b"#")) >= 0 and len(received) >= end + 3:
                    data = received[received.find(b"$") + 1:end].decode()
                    received = received[end + 3:]
                    self.packets.append(data)
                    reply = self._answer(data)
                    checksum = sum(reply.encode()) % 256
                    connection.sendall(b"+" + f"${reply}#{checksum:02x}".encode())


@pytest.fixture
def made_up_stub(tmp_path):
    """made_up_stub(answer) -> (GdbStub, MadeUpGdbStub), connected."""
    clients = []

    def connect(answer):
        clients.append(GdbStub(tmp_path / "gdb.sock", timeout=2.0))
        return clients[-1], MadeUpGdbStub(tmp_path / "gdb.sock", answer)

    yield connect
    for client in clients:
        client.close()


REGISTERS = bytes(range(17 * 8)) + (0x202).to_bytes(4, "little") + bytes(range(100, 140))  # then segments and more


@pytest.mark.parametrize("stop", ["W00", "T02thread:01;", "S0b"], ids=["qemu-exited", "interrupted", "segfault"])
def test_a_stop_that_is_no_breakpoint_or_step_is_named(made_up_stub, stop):
    # A play that goes on after the CPU stopped elsewhere would step or
    # change registers in a place it never meant to.
    stub, _ = made_up_stub(lambda data: stop if data in ("c", "s") else "OK")
    with pytest.raises(GdbStubError, match=f"the CPU stopped for another reason than the breakpoint at 0x100000: "
                                           f"{re.escape(stop)}"):
        stub.run_to(0x100000)
    with pytest.raises(GdbStubError, match=f"the CPU stopped for another reason than the single step: "
                                           f"{re.escape(stop)}"):
        stub.step()


def test_a_register_is_read_and_written_in_its_own_place(made_up_stub):
    stub, qemu = made_up_stub(lambda data: REGISTERS.hex() if data == "g" else "OK")
    assert stub.read_register(gdb_stub.RSP) == int.from_bytes(REGISTERS[7 * 8:8 * 8], "little")
    assert stub.read_register(gdb_stub.R8) == int.from_bytes(REGISTERS[8 * 8:9 * 8], "little")
    assert stub.read_register(gdb_stub.EFLAGS) == 0x202
    stub.write_register(gdb_stub.EFLAGS, 0x602)
    # The general registers, RIP and EFLAGS written back, nothing after them.
    expected = REGISTERS[:16 * 8 + 8] + (0x602).to_bytes(4, "little")
    assert qemu.packets[-1] == "G" + expected.hex()


def test_memory_goes_in_pieces_of_a_packet_each_and_an_error_is_named(made_up_stub):
    def answer(data: str) -> str:
        if data.startswith("m"):
            start, length = (int(field, 16) for field in data[1:].split(","))
            return "E14" if start >= 0x2000 else bytes(byte & 0xFF for byte in range(start, start + length)).hex()
        return "OK"

    stub, qemu = made_up_stub(answer)
    assert stub.read_memory(0x1000, 2500) == bytes(byte & 0xFF for byte in range(0x1000, 0x1000 + 2500))
    assert qemu.packets == ["m1000,400", "m1400,400", "m1800,1c4"]
    stub.write_memory(0x1ffe, b"\x01\x02")
    assert qemu.packets[-1] == "M1ffe,2:0102"
    with pytest.raises(GdbStubError, match=r"the gdb stub refused 'm2000,4': E14"):
        stub.read_memory(0x2000, 4)


def test_a_string_ends_at_its_zero_and_comes_in_one_request(made_up_stub):
    # The text a kernel function was passed (test_04_testing reads an
    # expectation's): the zero ends it, and what follows is not part of it.
    memory = b"format_zero\0EXPECT_EQ" + bytes(300)

    def answer(data: str) -> str:
        start, length = (int(field, 16) for field in data[1:].split(","))
        return memory[start - 0x1000:start - 0x1000 + length].hex()

    stub, qemu = made_up_stub(answer)
    assert stub.read_string(0x1000) == "format_zero"
    assert qemu.packets == ["m1000,100"]
    assert stub.read_string(0x1000, limit=6) == "format", "a string longer than its limit is cut at the limit"


# --- a chapter's halted kernel, shared by its tests ----------------------------------------------------

class HaltingMachine:
    """A stand-in for a Machine that halts in halt_forever, or fails with `failure`."""

    def __init__(self, failure: KernelFailure | None = None):
        self.failure = failure
        self.running = True

    def wait_until_halted_in(self, function: str) -> Registers:
        if self.failure is not None:
            raise self.failure
        return Registers(HALTED_FOR_GOOD)


def halted_kernels_booting(*machines: HaltingMachine) -> tuple[halted.HaltedKernels, list[str]]:
    """HaltedKernels whose boots give these machines in turn; and the list of the images it booted."""
    booted, chapter = [], SimpleNamespace(iso=lambda: "kernel.iso", elf=lambda: "kernel.elf")
    given = iter(machines)

    def boot(image, **options):
        booted.append(image)
        return next(given)

    return halted.HaltedKernels(SimpleNamespace(chapter=lambda number: chapter), boot), booted


def test_a_halted_kernels_failed_boot_fails_its_first_test_and_skips_the_rest():
    # Every test skipped would be a chapter with no failure at all.
    failure = KernelFailure(Verdict.TRIPLE_FAULT, "triple fault: made up")
    kernels, booted = halted_kernels_booting(HaltingMachine(failure))
    first, second = SimpleNamespace(name="test_first"), SimpleNamespace(name="test_second")
    try:
        kernels("02", first)
    except pytest.skip.Exception as skip:
        pytest.fail(f"the test that booted the kernel was skipped, not failed: {skip}")
    except KernelFailure as caught:
        assert caught is failure
    else:
        pytest.fail("the test that booted the kernel passed, where its boot failed")
    assert len(first.halted_machines) == 1, "the failed test keeps the boot's evidence"
    with pytest.raises(pytest.skip.Exception) as skipped:
        kernels("02", second)
    assert str(skipped.value) == "not run: the boot of 02 failed, TRIPLE_FAULT (reported by test_first)"
    assert booted == ["kernel.iso"], "one boot for the chapter, not one per test"


def test_a_halted_kernel_is_shared_while_it_runs_and_booted_again_after():
    machines = HaltingMachine(), HaltingMachine()
    kernels, booted = halted_kernels_booting(*machines)
    first, second, third = (SimpleNamespace(name=f"test_{n}") for n in range(3))
    assert kernels("02", first).machine is machines[0] and first.halted_machines == [machines[0]]
    assert kernels("02", second).machine is machines[0] and second.halted_machines == [machines[0]]
    machines[0].running = False  # the watchdog ended it at its wall time limit
    assert kernels("02", third).machine is machines[1]
    assert booted == ["kernel.iso", "kernel.iso"]


# --- the watchdog, on clocks made up by hand -----------------------------------------------------------

@pytest.mark.parametrize("cpu, wall, log_size, named", [
    (5.0 + WATCHDOG_GRACE + 0.1, 0.0, 0, "QEMU used more than 7 s of CPU time"),
    (0.0, 5.0 * WALL_CLOCK_ALLOWANCE + WATCHDOG_GRACE + 0.1, 0, "the boot took more than 17 s of wall time"),
    (0.0, 0.0, INTERRUPT_LOG_LIMIT + 1, "QEMU's interrupt log passed 16 MiB"),
], ids=["cpu-time", "wall-time", "interrupt-log"])
def test_the_watchdog_stops_a_boot_at_each_limit_and_names_it(tmp_path, cpu, wall, log_size, named):
    # The waits' own timeouts end most boots first: the watchdog is what
    # ends one that nobody waits for, and no boot of the self-checks gets
    # that far on the clocks.
    log = tmp_path / "qemu.log"
    with log.open("wb") as sparse:
        sparse.truncate(log_size)
    killed = threading.Event()
    watchdog = Watchdog(timeout=5.0, cpu_seconds=lambda: cpu, wall_seconds=lambda: wall, interrupt_log=log,
                        kill=killed.set)
    try:
        assert killed.wait(5.0), "the watchdog did not stop QEMU"
        assert watchdog.limit_reached.description == named
    finally:
        watchdog.stop()


def test_the_watchdog_keeps_the_first_limit_a_boot_reached():
    # A flood stopped at the serial limit must not be renamed by the CPU
    # time QEMU used while it was being killed.
    kills = []
    watchdog = Watchdog(timeout=5.0, cpu_seconds=lambda: 0.0, wall_seconds=lambda: 0.0,
                        interrupt_log=Path("/nonexistent/qemu.log"), kill=lambda: kills.append(1))
    watchdog.reached(LimitReached("serial output", "the kernel printed more than 256 KiB on serial"))
    watchdog.reached(LimitReached("CPU time", "QEMU used more than 7 s of CPU time"))
    watchdog.stop()
    assert watchdog.limit_reached.name == "serial output" and len(kills) == 2


# --- QMP, against a QEMU made up by hand ----------------------------------------------------------------

def made_up_qmp(socket_path: Path, replies: dict[str, list[dict]]) -> threading.Thread:
    """QEMU's end of QMP: greets, then answers each command with its
    replies (events, then the return), in the order QEMU may send them."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener, connection.makefile("rwb") as stream:
            stream.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            stream.flush()
            for request in stream:
                for reply in replies[json.loads(request)["execute"]]:
                    stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_an_event_that_comes_before_an_answer_is_kept_and_the_answer_returned(tmp_path):
    # The SHUTDOWN of a triple fault may come while the harness reads the
    # registers: taken for the answer, it would leave the real answer to
    # the next command, and the reset unseen.
    reset = {"event": "SHUTDOWN", "data": {"guest": True, "reason": "guest-reset"}}
    made_up_qmp(tmp_path / "qmp.sock", {
        "qmp_capabilities": [{"return": {}}],
        "human-monitor-command": [reset, {"return": "RIP=0000000000100010 HLT=1"}],
        "query-status": [{"return": {"status": "paused"}}]})
    qmp = QmpConnection(tmp_path / "qmp.sock")
    try:
        assert qmp.human_monitor("info registers") == "RIP=0000000000100010 HLT=1"
        assert qmp.execute("query-status") == {"status": "paused"}
        assert qmp.poll_events() == [reset]
    finally:
        qmp.close()
