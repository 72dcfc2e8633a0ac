"""Reads QEMU's interrupt log (`-d int,cpu_reset -D qemu.log`) and tells in
plain words which exceptions led to a triple fault.

When the CPU cannot deliver an exception it raises a double fault, and when
it cannot deliver that, it resets: a triple fault. The kernel gets no chance
to say anything, so the only witness is QEMU's log, in which the lines that
matter look like this (TCG only):

    check_exception old: 0xffffffff new 0xe            a fresh #PF is raised
         0: v=0e e=0002 i=0 cpl=0 IP=0008:0000000000100123 ... CR2=0000000040000000
    check_exception old: 0xe new 0xd                  #GP while delivering it
         1: v=08 e=0000 i=0 cpl=0 IP=0008:...          ... which became a #DF
    check_exception old: 0x8 new 0xd                  #GP while delivering the #DF
    Triple fault

A "v=" line is written for every interrupt delivered in protected or long
mode; for CPU exceptions it follows a check_exception line, for hardware
interrupts and `int N` (i=1) it does not. QEMU writes it as the delivery
begins, before it reads the gate: a delivery that the gate refuses has its
"v=" line too, followed by the exception it raised (the #GP above). QEMU
counts no `int N` as an exception in delivery, so when an `int N`'s gate
is refused, that line says old: 0xffffffff:

         5: v=80 e=0000 i=1 cpl=0 IP=0008:0000000000102cd4 ...
    check_exception old: 0xffffffff new 0xd           gate 128 is refused
         6: v=0d e=0802 i=0 cpl=0 IP=0008:0000000000102cd4 ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from registers import Registers
from x86_exceptions import PAGE_FAULT, SELECTOR_ERROR_CODE_VECTORS, describe, mnemonic

NO_EXCEPTION = 0xFFFFFFFF  # "old" when no exception was being delivered

_RAISED = re.compile(r"^check_exception old: (0x[0-9a-f]+) new (0x[0-9a-f]+)")
_DELIVERED = re.compile(r"^\s*\d+: v=([0-9a-f]+) e=([0-9a-f]+) i=(\d) cpl=(\d) IP=([0-9a-f]+):([0-9a-f]+)"
                        r"(?:.*?CR2=([0-9a-f]+))?")
_TRIPLE_FAULT = "Triple fault"
_CPU_RESET = re.compile(r"^CPU Reset")


def describe_page_fault_error(error_code: int) -> str:
    """The page-fault error code bits in words: what access, and why."""
    access = "instruction fetch" if error_code & 0x10 else "write" if error_code & 0x2 else "read"
    cause = "protection violation" if error_code & 0x1 else "page not present"
    extras = [word for bit, word in ((0x4, "user mode"), (0x8, "reserved bit set in a page table entry"))
              if error_code & bit]
    return ", ".join([f"{access} of a {cause}" if not error_code & 0x1 else f"{access}, {cause}"] + extras)


@dataclass(frozen=True)
class RaisedException:
    """A check_exception line: exception `vector` raised while `during` was
    being delivered (None for a fresh exception)."""
    vector: int
    during: int | None


@dataclass(frozen=True)
class DeliveredInterrupt:
    """A v= line: the CPU begins to deliver `vector`; the register dump
    that follows it is what the CPU had at that moment."""
    vector: int
    error_code: int
    software: bool  # raised by an `int N` instruction
    rip: int
    cr2: int | None
    dump: str = field(default="", repr=False, compare=False)

    @property
    def registers(self) -> Registers:
        return Registers(self.dump)


@dataclass(frozen=True)
class TripleFault:
    """The reset itself."""


LogEvent = RaisedException | DeliveredInterrupt | TripleFault


def parse(log_text: str) -> list[LogEvent]:
    """The events since the last CPU reset that was not a triple fault's
    (cpu_reset also logs the power-on reset)."""
    events: list[LogEvent] = []
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        if match := _RAISED.match(line):
            old, new = int(match[1], 16), int(match[2], 16)
            events.append(RaisedException(new, None if old == NO_EXCEPTION else old))
        elif match := _DELIVERED.match(line):
            events.append(DeliveredInterrupt(int(match[1], 16), int(match[2], 16), match[3] == "1",
                                             int(match[6], 16), int(match[7], 16) if match[7] else None,
                                             _register_dump(lines, index + 1)))
        elif line.startswith(_TRIPLE_FAULT):
            events.append(TripleFault())
        elif _CPU_RESET.match(line) and not (events and isinstance(events[-1], TripleFault)):
            events.clear()
    return events


def _register_dump(lines: list[str], start: int) -> str:
    """The lines of the register dump that begins at `start`: up to a blank
    line or the next event."""
    end = start
    while end < len(lines) and lines[end].strip() and not _DELIVERED.match(lines[end]) \
            and not lines[end].startswith("check_exception"):
        end += 1
    return "\n".join(lines[start:end])


def deliveries(log_text: str) -> list[DeliveredInterrupt]:
    """Every interrupt and exception the CPU delivered, in order."""
    return [event for event in parse(log_text) if isinstance(event, DeliveredInterrupt)]


def handled(log_text: str) -> list[DeliveredInterrupt]:
    """The deliveries that reached a handler, in order: all of
    deliveries() except each `int N` whose gate the CPU refused."""
    events = parse(log_text)
    return [event for at, event in enumerate(events)
            if isinstance(event, DeliveredInterrupt) and not _gate_refused(events, at)]


def _gate_refused(events: list[LogEvent], at: int) -> bool:
    """Whether events[at] is an `int N` whose gate raised an exception: one
    raised at once, and delivered with RIP still at the `int N`, which
    never ran. (A handler that faults does so at an address of its own.)"""
    delivery, following = events[at], events[at + 1:at + 3]
    return (delivery.software and len(following) == 2 and isinstance(following[0], RaisedException)
            and isinstance(following[1], DeliveredInterrupt) and following[1].rip == delivery.rip)


def has_triple_fault(log_text: str) -> bool:
    return any(isinstance(event, TripleFault) for event in parse(log_text))


def exceptions(log_text: str) -> list[tuple[RaisedException, DeliveredInterrupt | None]]:
    """Every CPU exception since power-on, each with the delivery QEMU
    logged for it (None when delivery itself failed before a v= line)."""
    return _exceptions_of(parse(log_text))


def _exceptions_of(events: list[LogEvent]) -> list[tuple[RaisedException, DeliveredInterrupt | None]]:
    result = []
    for i, event in enumerate(events):
        if isinstance(event, RaisedException):
            following = events[i + 1] if i + 1 < len(events) else None
            result.append((event, following if isinstance(following, DeliveredInterrupt) else None))
    return result


def describe_selector_error(error_code: int) -> str:
    """The error code of #TS, #NP, #SS and #GP names a descriptor (SDM vol.
    3, 6.13): `IDT entry 8` (bit 1: the IDT; else bit 2: the LDT, or the
    GDT; bits 15:3 the index). Bit 0 says an event from outside the
    program (a hardware interrupt) raised it. Bits 31:16 are reserved and
    the CPU leaves them clear: set, they are no part of the index, and the
    code is not as the CPU pushed it."""
    table = "IDT" if error_code & 0x2 else "LDT" if error_code & 0x4 else "GDT"
    words = [f"{table} entry {(error_code >> 3) & 0x1FFF}"]
    if error_code & 0x1:
        words.append("caused by an event external to the program")
    if error_code >> 16:
        words.append(f"reserved bits 31:16 set ({error_code >> 16:#x}), which no CPU pushes")
    return ", ".join(words)


def describe_triple_fault(log_text: str, where: Callable[[int], str | None] = lambda rip: None) -> str:
    """`triple fault: #PF (page fault) at rip=0x100123 (kernel_main+0x13), cr2=0x40000000,
    error 0x2 (write of a page not present); then #GP while delivering it, so #DF
    (double fault); then #GP while delivering the #DF; then reset`.

    When a hardware interrupt's delivery raised the first exception, the
    interrupt comes first: `hardware interrupt 0x8 at rip=...; then #GP
    while delivering it, error 0x42 (IDT entry 8); ...`.

    `where` names the function that holds an address, if it can.
    """
    events = parse(log_text)
    chain = _last_chain(_exceptions_of(events))
    if not chain:
        return "triple fault: the CPU reset, and QEMU's log names no exception before it"
    steps = []
    interrupt = _hardware_interrupt_refused(events, *chain[0])
    if interrupt is not None:
        location = where(interrupt.rip)
        steps.append(f"hardware interrupt {interrupt.vector:#x} at rip={interrupt.rip:#x}"
                     + (f" ({location})" if location else "") + ", with interrupts enabled")
    for index, (raised, delivered) in enumerate(chain):
        if index == 0 and interrupt is not None:
            step = f"{mnemonic(raised.vector)} while delivering it"
            if delivered is not None and delivered.error_code:
                step += f", error {delivered.error_code:#x}" + _error_code_meaning(raised.vector, delivered.error_code)
            steps.append(step)
        elif raised.during is None:
            steps.append(_describe_fresh(raised, delivered, where))
        else:
            step = f"{mnemonic(raised.vector)} while delivering the {mnemonic(raised.during)}"
            if delivered is not None and delivered.vector != raised.vector:
                step += f", so {describe(delivered.vector)}"
            steps.append(step)
    return "triple fault: " + "; then ".join(steps + ["reset"])


def _is_hardware_interrupt(events: list[LogEvent], at: int) -> bool:
    """Whether events[at] is a hardware interrupt's delivery: no `int N`,
    and no exception's (QEMU writes a check_exception line before each)."""
    event = events[at]
    if not isinstance(event, DeliveredInterrupt) or event.software:
        return False
    return not (at > 0 and isinstance(events[at - 1], RaisedException) and events[at - 1].vector == event.vector)


def hardware_interrupts(log_text: str) -> list[DeliveredInterrupt]:
    """The hardware interrupts the CPU delivered, in order."""
    events = parse(log_text)
    return [event for at, event in enumerate(events) if _is_hardware_interrupt(events, at)]


def _hardware_interrupt_refused(events: list[LogEvent], raised: RaisedException,
                                delivered: DeliveredInterrupt | None) -> DeliveredInterrupt | None:
    """The hardware interrupt whose delivery raised the exception `raised`:
    the delivery logged just before it, if a hardware interrupt's, and the
    exception came at the same rip, before a handler ran."""
    at = next(i for i in range(len(events) - 1, -1, -1) if events[i] is raised)
    if at == 0 or not _is_hardware_interrupt(events, at - 1) or delivered is None \
            or delivered.rip != events[at - 1].rip:
        return None
    return events[at - 1]


def _error_code_meaning(vector: int, error_code: int) -> str:
    return f" ({describe_selector_error(error_code)})" if vector in SELECTOR_ERROR_CODE_VECTORS else ""


def _last_chain(logged):
    """The exceptions from the last fresh one on: the cascade that ended in
    the reset."""
    starts = [i for i, (raised, _) in enumerate(logged) if raised.during is None]
    if not starts:
        return logged[-3:]
    return logged[starts[-1]:]


def _describe_fresh(raised: RaisedException, delivered: DeliveredInterrupt | None,
                    where: Callable[[int], str | None]) -> str:
    text = describe(raised.vector)
    if delivered is None:
        return text
    location = where(delivered.rip)
    text += f" at rip={delivered.rip:#x}" + (f" ({location})" if location else "")
    if raised.vector == PAGE_FAULT and delivered.cr2 is not None:
        text += f", cr2={delivered.cr2:#x}, error {delivered.error_code:#x} " \
                f"({describe_page_fault_error(delivered.error_code)})"
    elif delivered.error_code:
        text += f", error {delivered.error_code:#x}" + _error_code_meaning(raised.vector, delivered.error_code)
    return text


def describe_last_exception(log_text: str, where: Callable[[int], str | None] = lambda rip: None) -> str | None:
    """The last CPU exception logged (`#GP (general protection) at
    rip=0x1012a0 (load_gdt_and_tss+0x80), error 0x10 (...)`), or None when
    there was none. An `int N` raises none: QEMU logs no check_exception
    for it."""
    logged = exceptions(log_text)
    return _describe_fresh(*logged[-1], where) if logged else None


def describe_exception_loop(log_text: str, where: Callable[[int], str | None] = lambda rip: None,
                            repeats: int = 10) -> str | None:
    """`#UD (invalid opcode) at rip=0x100040 (_start+0x30) again and again`
    when the last `repeats` exceptions logged are the same one at the same
    place with the same registers (a handler that returns to the
    instruction that faulted, which changes nothing); else None. A kernel
    that runs a faulting instruction in a loop of its own, its handler
    skipping it, takes the same exception at the same place too, but
    makes progress: its loop counter differs each time. Works on the tail
    of a log too."""
    delivered = [d for _, d in exceptions(log_text) if d is not None]
    last = delivered[-repeats:]
    if len(last) < repeats or len({(d.vector, d.rip) for d in last}) != 1:
        return None
    if len({d.dump for d in last[:-1]}) != 1:  # the last dump may be half written yet
        return None
    location = where(last[0].rip)
    return f"{describe(last[0].vector)} at rip={last[0].rip:#x}" + \
        (f" ({location})" if location else "") + " again and again"
