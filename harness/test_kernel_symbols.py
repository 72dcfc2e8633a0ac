"""Chapters 05-06: the kernel's symbol table is taken from the boot
information only where it can be read.

GRUB passes the section headers of kernel.elf, and the symbol table is
found through them (kernel_symbols.cpp). A table, or its names, outside the
identity map, a table that runs past its end, one the loader did not load
(at address 0), headers outside their own tag, names in a section the tag
does not count, a tag too small for its own fields, or headers smaller
than an ELF-64 one, must be ignored: the kernel keeps the table it loaded
at boot. The unit_tests kernel offers such tags in kernel_symbols_tests.cpp;
a table taken by mistake page-faults or names no function.
"""

import pytest

import ktap
from machine import EXIT_SUCCESS

CHAPTERS = ["05-cpu-exceptions", "06-double-faults"]
TESTS = [
    "kernel_symbols_ignore_a_symbol_table_outside_the_identity_map",
    "kernel_symbols_ignore_a_symbol_table_that_runs_past_the_identity_map",
    "kernel_symbols_ignore_a_symbol_table_the_loader_did_not_load",
    "kernel_symbols_ignore_names_outside_the_identity_map",
    "kernel_symbols_ignore_headers_outside_their_tag",
    "kernel_symbols_ignore_a_link_past_the_last_section",
    "kernel_symbols_ignore_a_tag_too_small_for_its_fields",
    "kernel_symbols_ignore_headers_smaller_than_elf64s",
]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_unreadable_symbol_tables_are_ignored(boot, build, chapter):
    machine = boot(build.chapter(chapter).iso("unit_tests"), command_line="tests=" + ",".join(TESTS))
    status = machine.wait_for_exit()
    report = ktap.parse(machine.serial_text)
    failed = [result.name for result in report.results if not result.ok]
    assert report.plan == len(TESTS) and report.complete and not failed, \
        f"plan {report.plan}, failed {failed}:\n{machine.serial_text}"
    assert status == EXIT_SUCCESS
