"""The serial port's line settings as the UART itself took them, not as the
kernel says it set them.

Under QEMU every baud rate and framing works: its UART hands each byte to
the host whatever the divisor and the line control register hold. A kernel
that programs 38400 baud, or two stop bits, passes every test there and
prints garbage to a real PC's serial cable. So a boot can ask QEMU to log
the UART's settings whenever a write to the divisor latch or the line
control register changes them (QEMU_ARGUMENTS: the trace event
serial_update_parameters), into the same log as the interrupts:

    serial_update_parameters baudrate=115200 parity='N' data=8 stop=1

The last such line is what the UART was left with. At power-on QEMU's UART
logs its reset state (9600 baud, 5 data bits); the firmware and GRUB, under
a BIOS, leave it so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# For the boots that read the settings only: with a trace event enabled,
# QEMU's emulation took some 4 % more CPU time (30 ms in a boot of 0.7 s).
QEMU_ARGUMENTS = ["-trace", "serial_update_parameters"]

# Newer QEMUs may put a thread id and time stamp in front.
_SETTINGS = re.compile(r"serial_update_parameters baudrate=(\d+) parity='(.)' data=(\d) stop=(\d)")


@dataclass(frozen=True)
class LineSettings:
    baud: int
    parity: str  # N(one), E(ven), O(dd), and the sticky M(ark) and S(pace)
    data_bits: int
    stop_bits: int

    def __str__(self) -> str:
        return f"{self.baud} baud, {self.data_bits}{self.parity}{self.stop_bits}"


def history(log_text: str) -> list[LineSettings]:
    """Every change of the settings QEMU logged, in order."""
    return [LineSettings(int(match[1]), match[2], int(match[3]), int(match[4]))
            for match in _SETTINGS.finditer(log_text)]
