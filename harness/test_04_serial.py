"""Chapters 04-06: the serial port under back-pressure, and as it is left.

The harness stops reading the serial port for a while, as a slow terminal
or a busy log would. The pipe between QEMU and the harness fills (made
4 KiB for this test, a fifth of the flood), QEMU's UART keeps its byte
until the host takes it, and the kernel must wait for the transmit holding
register to be empty before each byte: a kernel that does not overwrites
the waiting byte, and text is lost. It must also wait long enough: one
that calls the UART stuck within the pause (10 million polls took 0.55 s)
drops the rest of its output. serial_flood writes 300 numbered lines;
every one must arrive whole, and the kernel must still have been writing
when the pause ended: a flood the pipe took whole would prove nothing.
(The pipe is small so that it cannot: the kernel can never be more than
4 KiB ahead of the harness when the pause begins.)
A reader may also stop for good (a terminal closed, a log on a full disk).
Then the UART never takes another byte, and serial_port.h promises that
the kernel gives it up after one wait of seconds, dropping the rest of its
output, rather than hang in it (a wait with no end) or wait as long again
for every byte: serial_flood, never read again after its first line, must
still end its run, and QEMU with it.
Chapters 05 and 06 carry the serial port and the kernel unchanged.

Under QEMU a UART sends whatever its interrupt enable, FIFO control and
modem control registers hold, so the output proves none of them. The
kernel promises a polled port with its FIFOs on, DTR and RTS raised, and no
loopback (serial_port.h): the registers are read back through QEMU's
monitor where the normal kernel halts. A firmware may leave the UART's
interrupts on, its FIFOs off and another speed and framing, as SeaBIOS and
GRUB do not: the test plays one, by writing the registers when the kernel
begins, and reads the settings the UART took from QEMU's log (as
test_boot_state does without the play).

A UART may also hold a received byte when the kernel begins: noise on the
line at power-on, a key pressed at GRUB's menu. initialize() clears both
FIFOs before it loops its probe byte back (FIFO control 0xc7): a kernel
that only enables them reads the old byte as the probe's echo, takes the
UART for absent and prints nothing on serial. The test plays that byte
into a receive FIFO left enabled, through loopback, as the kernel begins.
"""

import re
import time

import pytest

import line_settings
from machine import EXIT_SUCCESS
from verdict import KernelFailure

CHAPTERS = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
LINES = 300
SERIAL_BUFFER = 4096  # bytes the pipe holds: the least Linux allows, one page
PAYLOAD = "the quick brown fox jumps over the lazy dog 0123456789abcdef"
PAUSE = 1.0  # seconds without reading: the kernel writes on meanwhile
FLOOD_LINE = re.compile(r"# flood (\d{4}) (.*)")
# The kernel calls the UART stuck after 2^34 time-stamp counter ticks, some
# seconds. Under -icount the guest's clock, and the TSC with it, advances by
# the instructions run (2^7 ns each), not with the host's time: those
# seconds pass in about one of CPU time, on any host, where the host's
# clock made the test cost 9 s of CPU time a chapter.
COUNTED_CLOCK = ["-icount", "shift=7,sleep=off"]
STUCK_READER_TIMEOUT = 10

COM1 = 0x3F8
DIVISOR_LOW, DIVISOR_HIGH = COM1, COM1 + 1  # while the line control register's bit 7 is set
INTERRUPT_ENABLE = COM1 + 1
FIFO_CONTROL = COM1 + 2  # written; read, the same port is the interrupt identification
INTERRUPT_IDENTIFICATION = COM1 + 2
LINE_CONTROL = COM1 + 3
MODEM_CONTROL = COM1 + 4
LINE_STATUS = COM1 + 5
DIVISOR_LATCH_ACCESS = 0x80
FIRMWARE_DIVISOR = 0x0180  # 300 baud: both bytes of the divisor differ from 115200's 1
FIRMWARE_LINE_CONTROL = 0x1B  # 8 data bits, even parity, 1 stop bit
PROMISED_LINE = line_settings.LineSettings(baud=115200, parity="N", data_bits=8, stop_bits=1)
EVERY_INTERRUPT = 0x0F  # received data, transmitter empty, line status, modem status
FIFOS_ENABLED = 0xC0  # interrupt identification, bits 7-6: both set on a 16550 whose FIFOs are on
DATA_TERMINAL_READY, REQUEST_TO_SEND, LOOPBACK = 0x01, 0x02, 0x10
FIFO_ENABLE = 0x01  # FIFO control bit 0, without bits 1-2 that clear the FIFOs
DATA_READY = 0x01  # line status: a received byte is waiting
LEFT_IN_THE_RECEIVER = 0x55  # any byte but serial_port.cpp's probe


@pytest.fixture(params=CHAPTERS)
def chapter(request, build):
    return build.chapter(request.param)


def test_no_byte_is_lost_while_the_reader_pauses(boot, chapter):
    machine = boot(chapter.iso("serial_flood"), timeout=60, serial_buffer=SERIAL_BUFFER)
    machine.wait_for_serial(r"^# flood 0000 ")
    time.sleep(PAUSE)  # nobody reads the pipe now
    held_back = machine.running
    machine.expect_exit_success()

    flood = [line for line in machine.serial_lines if line.startswith("# flood")]
    wrong = [f"line {index}: {line!r}" for index, line in enumerate(flood)
             if not (match := FLOOD_LINE.fullmatch(line)) or int(match[1]) != index or match[2] != PAYLOAD]
    assert len(flood) == LINES and not wrong, (
        f"{len(flood)} of {LINES} flood lines arrived, {len(wrong)} of them damaged or out of order; "
        f"first: {wrong[:3]}")
    assert held_back, (
        f"the kernel had written its whole flood before the {PAUSE} s pause ended, so nothing held it back "
        f"and the test proved nothing: the flood must be larger than the {SERIAL_BUFFER}-byte pipe")


def test_a_reader_that_stops_for_good_costs_the_kernel_one_wait(boot, chapter):
    machine = boot(chapter.iso("serial_flood"), qemu_args=COUNTED_CLOCK, timeout=STUCK_READER_TIMEOUT,
                   serial_buffer=SERIAL_BUFFER)
    machine.wait_for_serial(r"^# flood 0000 ")
    while machine.running and machine.limit_reached is None:
        time.sleep(0.1)  # nobody reads the pipe again while QEMU runs
    failure = None
    try:
        status = machine.wait_for_exit()
    except KernelFailure as caught:
        failure = caught
    if failure is not None:
        pytest.fail("serial_flood's reader stopped for good, and the kernel did not end its run: write_byte must "
                    "give a UART that takes no byte for seconds up for good (serial_port.h), not wait for it "
                    "without end, nor as long again for every byte\n" + failure.describe())
    flood = [line for line in machine.serial_lines if line.startswith("# flood")]
    assert len(flood) < LINES, (
        f"all {LINES} flood lines arrived though nobody read them: the {SERIAL_BUFFER}-byte pipe never held the "
        f"kernel back, and the test proved nothing")
    assert status == EXIT_SUCCESS, f"exit status {status}, not {EXIT_SUCCESS} (success):\n{machine.serial_text}"


def test_the_uart_is_left_as_serial_port_h_promises(boot, chapter, stub):
    machine = boot(chapter.iso(), qemu_args=[*stub.qemu_arguments(), *line_settings.QEMU_ARGUMENTS], timeout=10)
    stub.run_to(machine.symbol("kernel_main").value)
    machine.write_port(LINE_CONTROL, DIVISOR_LATCH_ACCESS)
    machine.write_port(DIVISOR_LOW, FIRMWARE_DIVISOR & 0xFF)
    machine.write_port(DIVISOR_HIGH, FIRMWARE_DIVISOR >> 8)
    machine.write_port(LINE_CONTROL, FIRMWARE_LINE_CONTROL)
    machine.write_port(INTERRUPT_ENABLE, EVERY_INTERRUPT)
    machine.write_port(FIFO_CONTROL, 0)
    firmware_line = line_settings.history(machine.qemu_log())[-1]
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    line = line_settings.history(machine.qemu_log())[-1]
    interrupts = machine.read_port(INTERRUPT_ENABLE)
    fifos = machine.read_port(INTERRUPT_IDENTIFICATION) & FIFOS_ENABLED
    modem = machine.read_port(MODEM_CONTROL)
    problems = []
    if line != PROMISED_LINE:
        problems.append(f"it sends at {line}, where a firmware left {firmware_line}: initialize() must write "
                        f"both bytes of the divisor (1, for 115200 baud) and the line control register (0x03, 8N1)")
    if interrupts:
        problems.append(f"its interrupt enable register holds {interrupts:#04x}, where a firmware left "
                        f"{EVERY_INTERRUPT:#04x}: the kernel polls, and initialize() must turn every interrupt off, "
                        f"writing 0 while the divisor latch is closed (with it open, offset 1 is the divisor's high "
                        f"byte)")
    if fifos != FIFOS_ENABLED:
        problems.append("its FIFOs are off, as a firmware left them: initialize() must enable them "
                        "(FIFO control 0xc7)")
    if modem & (DATA_TERMINAL_READY | REQUEST_TO_SEND | LOOPBACK) != DATA_TERMINAL_READY | REQUEST_TO_SEND:
        problems.append(f"its modem control register holds {modem:#04x}: Data Terminal Ready (0x01) and Request "
                        f"To Send (0x02) must be raised, loopback (0x10) off, or a real terminal may not listen")
    assert not problems, "the UART at COM1 is not left as serial_port.h promises: " + "; ".join(problems)


def test_a_byte_left_in_the_receiver_does_not_hide_the_uart(boot, chapter, stub):
    machine = boot(chapter.iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("kernel_main").value)
    machine.write_port(FIFO_CONTROL, FIFO_ENABLE)
    machine.write_port(MODEM_CONTROL, LOOPBACK)
    machine.write_port(COM1, LEFT_IN_THE_RECEIVER)
    machine.write_port(MODEM_CONTROL, 0)
    assert machine.read_port(LINE_STATUS) & DATA_READY, "the play left no byte in the UART's receiver"
    printed_before = len(machine.serial_bytes)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    printed = len(machine.serial_bytes) > printed_before
    waiting = machine.read_port(LINE_STATUS) & DATA_READY
    assert printed and not waiting, (
        f"with a byte ({LEFT_IN_THE_RECEIVER:#04x}) left in the UART's receive FIFO as the kernel began, the "
        + ("kernel printed nothing on serial" if not printed else "kernel printed on serial")
        + (" and left a received byte waiting" if waiting else "")
        + ": initialize() must clear both FIFOs (FIFO control 0xc7) before it loops its probe back, or the old "
        "byte reads as the probe's echo and a working UART is taken for absent")
