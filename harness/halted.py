"""A chapter's kernel booted to its final halt in halt_forever, once for
every test that reads what it left: test_boot_state the hardware state,
chapters 2 and 3 their screens. Those tests share the boot through the
session fixture `halted_kernels` (conftest.py) and an xdist group
(same_boot), which keeps them on one worker.

One failure per cause: a boot that failed fails the first test that asked
for it, and the chapter's later ones are skipped, naming that test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

import line_settings
from build import Builder
from elf import ElfFile
from machine import Machine
from registers import Registers
from verdict import KernelFailure


def same_boot(chapter: str) -> pytest.MarkDecorator:
    """Under pytest-xdist with --dist loadgroup, the tests of one halted
    kernel go to one worker, which boots it once for all of them."""
    return pytest.mark.xdist_group(f"halted-{chapter}")


def boots_its_own(test: Callable) -> Callable:
    """For a test of a module marked same_boot that boots a kernel of its
    own (a play through the gdb stub): a group of its own, the closest
    mark, so that any worker may take it instead of the halted kernel's."""
    return pytest.mark.xdist_group(f"own-{test.__name__}")(test)


@dataclass(frozen=True)
class Halted:
    machine: Machine  # booted with its kernel's ELF
    registers: Registers  # at the halt

    @property
    def elf(self) -> ElfFile:
        return self.machine.elf


class HaltedKernels:
    """halted_kernels(chapter, item) -> Halted. Each item is given the
    machine it read, so that a failed test keeps that boot's evidence
    (conftest.py's _machines_of)."""

    def __init__(self, build: Builder, boot: Callable[..., Machine]) -> None:
        self._build = build
        self._boot = boot
        self._outcomes: dict[str, Halted | tuple[KernelFailure, str]] = {}

    def __call__(self, chapter: str, item: pytest.Item) -> Halted:
        __tracebackhide__ = True
        outcome = self._outcomes.get(chapter)
        if isinstance(outcome, Halted) and not outcome.machine.running:
            # The watchdog ends every boot at its wall time limit, halted
            # or not (boot_limits.py): a test that comes that much later,
            # as in a run without xdist, boots the kernel again.
            del self._outcomes[chapter]
        if chapter not in self._outcomes:
            try:
                built = self._build.chapter(chapter)
                # With the UART's settings logged, for test_boot_state.
                machine = self._boot(built.iso(), elf=built.elf(), qemu_args=line_settings.QEMU_ARGUMENTS)
                item.halted_machines = [machine]
                self._outcomes[chapter] = Halted(machine, machine.wait_until_halted_in("halt_forever"))
            except KernelFailure as failure:
                self._outcomes[chapter] = (failure, item.name)
                raise
        outcome = self._outcomes[chapter]
        if isinstance(outcome, tuple):
            failure, reported_by = outcome
            pytest.skip(f"not run: the boot of {chapter} failed, {failure.verdict.name} (reported by {reported_by})")
        item.halted_machines = [outcome.machine]
        return outcome
