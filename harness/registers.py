"""The CPU's registers as QEMU's monitor shows them (`info registers`).

The monitor prints names and hexadecimal values, e.g.

    RIP=0000000000100123 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1
    CS =0008 0000000000000000 ffffffff 00af9a00 DPL=0 CS64 [-R-]
    CR0=80000011 CR2=0000000000000000 CR3=0000000000102000 CR4=00000020

A 32-bit guest shows EIP and EFL where a 64-bit one shows RIP and RFL; the
properties below hide the difference.
"""

from __future__ import annotations

import re

_NAME_AND_VALUE = re.compile(r"\b([A-Z][A-Z0-9]*)\s?=\s*([0-9a-f]+)\b")
INTERRUPT_FLAG = 1 << 9


class Registers:
    def __init__(self, monitor_text: str):
        self.text = monitor_text
        self.values: dict[str, int] = {}
        for name, value in _NAME_AND_VALUE.findall(monitor_text):
            self.values.setdefault(name, int(value, 16))  # first: CS's selector, not its base

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    @property
    def rip(self) -> int:
        return self.values["RIP"] if "RIP" in self.values else self.values["EIP"]

    @property
    def rsp(self) -> int:
        return self.values["RSP"] if "RSP" in self.values else self.values["ESP"]

    @property
    def flags(self) -> int:
        return self.values["RFL"] if "RFL" in self.values else self.values["EFL"]

    @property
    def halted(self) -> bool:
        """The CPU executed HLT and waits for an interrupt."""
        return self.values.get("HLT") == 1

    @property
    def interrupts_enabled(self) -> bool:
        """Only an interrupt can end a halt; with IF clear, only an NMI."""
        return bool(self.flags & INTERRUPT_FLAG)
