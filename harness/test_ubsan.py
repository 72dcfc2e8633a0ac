"""The undefined behaviour sanitizer's build (make UBSAN=1, pytest --ubsan):
a report must fail the test it happens in, and name the place it happened.

Chapters 04 to 06 build, with UBSAN=1 only, the test kernel
undefined_behaviour (tests/undefined_behaviour.cpp). Each of its tests does
one kind of undefined behaviour, on a line marked with the kind:

    const int32_t sum = largest_int32 + one;  // undefined behaviour: signed integer overflow

Each test is booted alone (the report is a panic, which ends the run), and
must be reported not ok, end QEMU with failure, and leave the report

    KERNEL PANIC at tests/undefined_behaviour.cpp:LINE: undefined behaviour
    at tests/undefined_behaviour.cpp:LINE:COLUMN: KIND: DETAILS

with the marked line (in the panic's heading too), the marked kind, a
column inside the expression at fault, and the details the case expects,
to their last character. An address in the details is the kernel's own:
the case names the variable, and its address comes from the kernel's ELF
file.

The compilers put the column at different places of the expression (clang
at the operator or the array, GCC at the right operand, the variable
initialised, or the closing bracket), so the column is checked against the
expression's extent on its line. They name types differently too (clang
'int32_t' (aka 'int'), GCC 'int'), so the details are checked in the parts
they agree on: the operands' values, as signed or unsigned numbers of their
width, and the words around them; the type named after them may be either
compiler's name for it.

The sanitizer's runtime (common/ubsan.cpp), its options
(common/toolchain.mk) and this test kernel's source are one and the same in
every chapter; what a chapter adds is its panic(), through which a report
ends the run. So every case boots in the first chapter with the kernel,
where the sanitizer is introduced, and one case in each later chapter, to
show that the chapter's panic carries a report. Every chapter's copy of
the source is still checked to mark each case's line.

The compilers differ in what they check, and in what they pass the
handlers (clang alone checks a float's conversion and an alignment
assumption; GCC passes no place for a nonnull attribute, and the array's
element for too small an object), so the first chapter's cases boot
on both compilers' kernels: the one the session builds, and the other's,
built here into build/ubsan/undefined-behaviour/<compiler>/.

The boots need the UBSan build and run with --ubsan (make test-ubsan, part
of make test). The checks are also shown to fail, without booting, on
made-up reports; those run in the normal suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import ktap
from chapters import CHAPTERS, build_root, make_variables, ubsan_chapters
from elf import ElfFile
from machine import EXIT_FAILURE
from terminal import make_environment
from compilers import PRODUCER_MARKS, check_tools, compiler_that_built
from verdict import KernelFailure, Verdict

KERNEL = "undefined_behaviour"
SOURCE = "tests/undefined_behaviour.cpp"
CHAPTERS_WITH_KERNEL = [chapter for chapter in ubsan_chapters() if (CHAPTERS / chapter / SOURCE).exists()]
COMPILERS = tuple(PRODUCER_MARKS)  # g++ and clang++


@dataclass(frozen=True)
class Case:
    test: str  # the in-kernel test
    kind: str  # what the report must call it, and the marker on its line says
    expression: str  # the part of the marked line the report's column must point into
    # What the report must say after the kind, in this order. {name+N} (or
    # {name}) stands for the address of the kernel's variable name, plus N,
    # as the report writes it: 0x and hex digits.
    details: tuple[str, ...] = ()
    # The type the report names right after the details, each way clang or
    # GCC spells it: a runtime that took the name from the wrong record, or
    # from the wrong place in it, names another type or none.
    type_names: tuple[str, ...] = ()
    # Text of the line that declares the attribute a null pointer broke:
    # the report names that line right after the details, " at FILE:LINE"
    # (GCC passes no place, and then the report names none).
    declared_at: str = ""
    # What the report ends with, after the type or the place: nothing more
    # than this.
    ending: str = ""
    # The compilers that check it: the test kernel has the test only when
    # built by one of them.
    compilers: tuple[str, ...] = COMPILERS

    def __repr__(self) -> str:  # pytest shows it in a failure
        return self.test


# The names of the cases' types: clang's alias and what it stands for, or
# GCC's one name.
INT32 = ("'int'", "'int32_t' (aka 'int')")

CONST_UINT32 = ("'const uint32_t' (aka 'const unsigned int')", "'const unsigned int'")

# One case for each handler of common/ubsan.cpp, for each operation of
# signed overflow (and one in 64 bits), for a shift in 32 and in 64 bits,
# for an invalid value of a signed type as well as of an unsigned one, for
# each of the three reports of a pointer that cannot be used (null,
# misaligned, too small an object), for three of the accesses a report
# names (a load, a store, a member access), and for each builtin.
CASES = [
    Case("signed_integer_overflow_is_reported", "signed integer overflow", "largest_int32 + one",
         ("2147483647 + 1 in type ",), INT32),
    Case("subtraction_overflow_is_reported", "signed integer overflow", "smallest_int32 - one",
         ("-2147483648 - 1 in type ",), INT32),
    Case("wide_subtraction_overflow_is_reported", "signed integer overflow", "smallest_int64 - one",
         ("-9223372036854775808 - 1 in type ",), ("'long'", "'long int'")),
    Case("multiplication_overflow_is_reported", "signed integer overflow", "largest_int32 * two",
         ("2147483647 * 2 in type ",), INT32),
    Case("negation_overflow_is_reported", "signed integer overflow", "-smallest_int32",
         ("-(-2147483648) in type ",), INT32),
    Case("division_overflow_is_reported", "signed integer overflow", "smallest_int32 / minus_one",
         ("division of -2147483648 by -1 in type ",), INT32),
    Case("division_by_zero_is_reported", "division by zero", "one % zero", ("division of 1 by 0 in type ",),
         INT32),
    Case("shift_out_of_bounds_is_reported", "shift out of bounds", "top_bit << minus_one",
         ("2147483648 shifted by -1 in type ",), ("'uint32_t' (aka 'unsigned int')", "'unsigned int'")),
    Case("wide_shift_out_of_bounds_is_reported", "shift out of bounds", "top_bit_of_64 << sixty_four",
         ("9223372036854775808 shifted by 64 in type ",),
         ("'uint64_t' (aka 'unsigned long')", "'long unsigned int'")),
    Case("misaligned_access_is_reported", "misaligned access", "value = *word",
         ("load of address {words+1}, which is not 4-byte aligned as type ",), CONST_UINT32, ending=" needs"),
    # GCC passes the type of the array's element, not of the read.
    Case("object_too_small_is_reported", "object too small", "value = *word",
         ("load of address {two_bytes}, which has no room for type ",), CONST_UINT32 + ("'uint8_t'",)),
    Case("alignment_assumption_is_reported", "misaligned assumption", "__builtin_assume_aligned(word, 8, 2)",
         ("address {words+1} (offset 2) assumed 8-byte aligned",), compilers=("clang++",)),
    Case("null_pointer_is_reported", "null pointer", "*no_word = 1", ("store to a null pointer of type ",),
         ("'uint32_t' (aka 'unsigned int')", "'uint32_t'")),
    Case("null_member_access_is_reported", "null pointer", "no_span->length",
         ("member access within a null pointer of type ",), ("'(anonymous namespace)::Span'", "'struct Span'")),
    Case("out_of_bounds_index_is_reported", "index out of bounds", "table[before_the_start]",
         ("index -1 of type ",), ("'int32_t[4]' (aka 'int[4]')", "'int [4]'")),
    Case("invalid_bool_is_reported", "invalid value", "value = *flag", ("load of 128, which type ",),
         ("'const volatile bool'", "'bool'"), ending=" cannot hold"),
    Case("invalid_enum_is_reported", "invalid value", "value = *sign", ("load of -4, which type ",),
         ("'const volatile (anonymous namespace)::Sign'", "'Sign'"), ending=" cannot hold"),
    Case("float_cast_overflow_is_reported", "float cast overflow", "static_cast<int32_t>(too_large)",
         ("a value of type 'double' outside the range of type ",), INT32, compilers=("clang++",)),
    Case("pointer_overflow_is_reported", "pointer overflow", "near_the_top + thirty_two_bytes",
         ("address 0xfffffffffffffff0 became 0x10",)),
    Case("unreachable_code_is_reported", "unreachable code reached", "__builtin_unreachable()"),
    Case("invalid_builtin_argument_is_reported", "invalid builtin argument", "__builtin_clz(no_bits)",
         ("zero passed to clz()",)),
    Case("invalid_trailing_builtin_argument_is_reported", "invalid builtin argument", "__builtin_ctz(no_bits)",
         ("zero passed to ctz()",)),
    Case("non_positive_array_bound_is_reported", "non-positive array bound", "bytes[minus_one]", ("-1",)),
    Case("null_argument_is_reported", "null argument", "length_of(no_text)",
         ("null passed as argument 1, declared nonnull",), declared_at="gnu::nonnull]]"),
    Case("null_return_is_reported", "null return", "return no_text",
         ("null returned from a function declared returns_nonnull",),
         declared_at="gnu::returns_nonnull]]"),
    Case("missing_return_is_reported", "missing return", "answer_as_number"),
]

# A report as panic() prints it: the panic's heading, then the sanitizer's
# message (common/ubsan.cpp, begin_report), its details after the kind.
REPORT = re.compile(r"KERNEL PANIC at (?P<heading_file>[^\s:]+):(?P<heading_line>\d+): "
                    r"undefined behaviour at (?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+): "
                    r"(?P<kind>[^:\r\n]+)(?:: (?P<details>[^\r\n]*))?")


def marked_line(source: str, case: Case) -> tuple[int, str]:
    """The number and text of the source line marked
    `// undefined behaviour: KIND` that holds the case's expression."""
    marker = f"// undefined behaviour: {case.kind}"
    found = [(number, line) for number, line in enumerate(source.splitlines(), start=1)
             if line.rstrip().endswith(marker) and case.expression in line[:line.index(marker)]]
    assert len(found) == 1, (f"expected {marker!r} at the end of one line of {SOURCE} with "
                             f"`{case.expression}`, found {len(found)}")
    return found[0]


def named_after_details(source: str, case: Case, compiler: str) -> tuple[str, ...]:
    """What the report of the case may name right after its details, in a
    kernel the compiler built: the type, or the place of the attribute's
    declaration, which GCC does not give."""
    if not case.declared_at:
        return case.type_names
    if compiler == "g++":
        return ("",)
    found = [number for number, line in enumerate(source.splitlines(), start=1) if case.declared_at in line]
    assert len(found) == 1, f"expected one line of {SOURCE} with `{case.declared_at}`, found {len(found)}"
    return (f" at {SOURCE}:{found[0]}",)


# {name} or {name+N} in a case's details.
ADDRESS = re.compile(r"\{(\w+)(?:\+(\d+))?\}")


def with_addresses(part: str, address_of: Callable[[str], int]) -> str:
    """The part of a case's details with each {name+N} replaced by the
    address it stands for, as the report writes it."""
    return ADDRESS.sub(lambda found: hex(address_of(found[1]) + int(found[2] or 0)), part)


def kernel_variables(elf: ElfFile) -> Callable[[str], int]:
    """The address of a variable of the test kernel, by its name in the
    source: all of them are in its anonymous namespace, whose names both
    compilers mangle alike (_ZN12_GLOBAL__N_15wordsE)."""
    return lambda name: elf.object_named_like(f"_GLOBAL__N_1{len(name)}{name}E").value


def report_problems(report: re.Match[str] | None, source: str, case: Case, compiler: str,
                    address_of: Callable[[str], int]) -> list[str]:
    """What is wrong with the report of the case's undefined behaviour, in
    a kernel the compiler built, in words; [] if it names the file, the
    marked line (in the heading too) and kind, a column within the
    expression, and the case's details, with the addresses of the kernel's
    variables address_of gives, and nothing after them but what the case
    expects."""
    if report is None:
        return ["no 'undefined behaviour at' report on serial"]
    number, line = marked_line(source, case)
    problems = []
    if (report["heading_file"], report["heading_line"]) != (report["file"], report["line"]):
        problems.append(f"the panic's heading names {report['heading_file']}:{report['heading_line']}, "
                        f"not the report's {report['file']}:{report['line']}")
    if report["file"] != SOURCE:
        problems.append(f"the report names {report['file']}, not {SOURCE}")
    if int(report["line"]) != number:
        problems.append(f"the report names line {report['line']}, not {number}, the marked one")
    if report["kind"] != case.kind:
        problems.append(f"the report calls it {report['kind']!r}, not {case.kind!r}")
    first = line.index(case.expression) + 1  # columns count from 1
    last = first + len(case.expression) - 1
    if not first <= int(report["column"]) <= last:
        problems.append(f"column {report['column']} is outside `{case.expression}` "
                        f"(columns {first}-{last} of `{line.strip()}`)")
    details, start = report["details"] or "", 0
    for part in (with_addresses(part, address_of) for part in case.details):
        # The first part opens the details: found further in, it could be
        # the end of another number, as 2147483648 is of -2147483648.
        found = details.find(part, start) if start else (0 if details.startswith(part) else -1)
        if found < 0:
            problems.append(f"the details {details!r} do not {'go on to say' if start else 'open with'} {part!r}")
            break
        start = found + len(part)
    else:
        # The whole rest: a place's line with a digit too many, or a type
        # with words after it, is another place or type.
        endings = [name + case.ending for name in named_after_details(source, case, compiler) or ("",)]
        rest = details[start:]
        if rest not in endings and endings == [""]:
            problems.append(f"the details {details!r} go on with {rest!r}")
        elif rest not in endings:
            problems.append(f"the details {details!r} do not end with {' or '.join(map(repr, endings))}"
                            + (f" after {case.details[-1]!r}" if case.details else ""))
    return problems


def booted_cases() -> list[tuple[str, str | None, Case]]:
    """Every case in the first chapter with the kernel, on the kernel of
    each compiler that checks it; the first case in each later chapter, on
    the session's kernel (compiler None)."""
    first, *later = CHAPTERS_WITH_KERNEL
    return ([(first, compiler, case) for compiler in COMPILERS for case in CASES if compiler in case.compilers]
            + [(chapter, None, CASES[0]) for chapter in later])


def booted_id(chapter: str, compiler: str | None, case: Case) -> str:
    return "-".join(part for part in (chapter, compiler, case.test) if part)


def built_by_other_compiler(build, chapter: str, compiler: str) -> Path:
    """The directory of the chapter's test kernel as the compiler builds it
    here: in a build root of its own, since test_toolchains.py builds the
    whole chapter into its own at the same time, on another worker."""
    check_tools(compiler)
    root = build_root() / "undefined-behaviour" / compiler
    build.make(CHAPTERS / chapter, f"{KERNEL} of {chapter} built with {compiler}",
               [f"CXX={compiler}", f"BUILD_ROOT={root}", *make_variables(), str(root / chapter / f"{KERNEL}.iso")],
               name=f"{chapter}-{KERNEL}-{compiler}", env=make_environment())
    return root / chapter


def kernel_directory(build, chapter: str, compiler: str | None) -> Path:
    """Where the chapter's test kernel built by the compiler is: the
    session's build, if that compiler made it (or compiler is None)."""
    session = build.chapter(chapter)
    if compiler is None or compiler_that_built(session.elf(KERNEL)) == compiler:
        return session.path
    return built_by_other_compiler(build, chapter, compiler)


@pytest.mark.ubsan
@pytest.mark.parametrize(("chapter", "compiler", "case"), booted_cases(),
                         ids=[booted_id(*booted) for booted in booted_cases()])
def test_undefined_behaviour_is_reported_where_it_happens(build, boot, chapter: str, compiler: str | None,
                                                          case: Case):
    directory = kernel_directory(build, chapter, compiler)
    elf = ElfFile(directory / f"{KERNEL}.elf")
    declared = [test.name for test in ktap.declared_tests(elf.path)]
    assert case.test in declared, f"{KERNEL} of {chapter} declares no test {case.test}, only {declared}"
    machine = boot(directory / f"{KERNEL}.iso", command_line=f"tests={case.test}",
                   name=booted_id(KERNEL, compiler, case))
    # A report fails every wait (machine.py); that it does is checked too.
    # A boot that ends without one (a report machine.py cannot tell from
    # another panic, or none) fails here with what the kernel said.
    failure = None
    try:
        machine.wait_for_exit()
    except KernelFailure as caught:
        failure = caught
    serial = "serial output:\n" + "\n".join("  " + line for line in machine.serial_lines)
    assert failure is not None, (
        f"the boot must fail with the report's panic, but it ended with exit status {machine.exit_status} "
        f"and no 'undefined behaviour at' report\n{serial}")
    assert failure.verdict == Verdict.PANIC and "undefined behaviour at" in failure.summary, (
        f"the boot must fail with the report's panic, but:\n{failure.describe()}")

    result = ktap.parse(machine.serial_text).result(case.test)
    assert result is not None and not result.ok, f"{case.test} must be reported not ok\n{serial}"
    assert machine.exit_status == EXIT_FAILURE, (
        f"QEMU must exit with {EXIT_FAILURE} (failure), not {machine.exit_status}\n{serial}")
    source = (CHAPTERS / chapter / SOURCE).read_text()
    problems = report_problems(REPORT.search(machine.serial_text), source, case, compiler_that_built(elf.path),
                               kernel_variables(elf))
    assert not problems, "; ".join(problems) + "\n" + serial


def declaring_kernels() -> list[tuple[str, str | None]]:
    """The kernels booted above: the first chapter's of each compiler, the
    session's of each later chapter."""
    return sorted({(chapter, compiler) for chapter, compiler, _ in booted_cases()}, key=str)


@pytest.mark.ubsan
@pytest.mark.parametrize(("chapter", "compiler"), declaring_kernels(),
                         ids=["-".join(filter(None, kernel)) for kernel in declaring_kernels()])
def test_undefined_behaviour_kernel_declares_only_the_checked_tests(build, chapter: str, compiler: str | None):
    """A test added to the kernel without a case here would go unchecked,
    and so would one that a compiler's kernel leaves out."""
    elf = kernel_directory(build, chapter, compiler) / f"{KERNEL}.elf"
    built_by = compiler_that_built(elf)
    declared = [test.name for test in ktap.declared_tests(elf)]
    assert sorted(declared) == sorted(case.test for case in CASES if built_by in case.compilers), (
        f"{KERNEL} of {chapter} built by {built_by}")


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_KERNEL)
def test_every_case_has_its_marked_line_in_the_chapters_source(chapter: str):
    """The cases a chapter does not boot still point at lines of its copy."""
    source = (CHAPTERS / chapter / SOURCE).read_text()
    for case in CASES:
        marked_line(source, case)


# --- the checks themselves, on made-up reports ---------------------------------

MADE_UP_SOURCE = (CHAPTERS / "05-cpu-exceptions" / SOURCE).read_text()


MADE_UP_COMPILER = "clang++"


def made_up_address(name: str) -> int:
    """Where a made-up kernel keeps each variable: all at one place."""
    return 0x110048


def made_up_report(case: Case, *, file: str = SOURCE, heading_line_offset: int = 0, line_offset: int = 0,
                   column: int | None = None, kind: str | None = None,
                   details: str | None = None) -> re.Match[str] | None:
    """A report of the case as the kernel would print it, at the marked line
    and the expression's first column, with the case's details (and
    something between them), the first name the case expects after them
    and its ending, unless told otherwise. line_offset moves the
    place in both the heading and the message, heading_line_offset the
    heading's alone."""
    number, text = marked_line(MADE_UP_SOURCE, case)
    column = text.index(case.expression) + 1 if column is None else column
    if details is None:
        details = "|".join(with_addresses(part, made_up_address) for part in case.details) \
            + "".join(named_after_details(MADE_UP_SOURCE, case, MADE_UP_COMPILER)[:1]) + case.ending
    return REPORT.search(f"# KERNEL PANIC at {file}:{number + line_offset + heading_line_offset}: "
                         f"undefined behaviour at {file}:{number + line_offset}:{column}: "
                         f"{kind or case.kind}: {details}")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.test)
def test_report_check_accepts_the_marked_place(case: Case):
    assert report_problems(made_up_report(case), MADE_UP_SOURCE, case, MADE_UP_COMPILER, made_up_address) == []


def test_report_check_fails_a_wrong_place_kind_or_detail():
    case = CASES[1]  # "-2147483648 - 1 in type "
    _, line = marked_line(MADE_UP_SOURCE, case)
    past_the_expression = line.index(case.expression) + len(case.expression) + 1
    wrong = [  # a report with one thing wrong, and the problem that says so
        (made_up_report(case, file="tests/other.cpp"), "the report names tests/other.cpp, not"),
        (made_up_report(case, heading_line_offset=1), "the panic's heading names"),
        (made_up_report(case, line_offset=1), "the report names line"),
        (made_up_report(case, column=past_the_expression), f"column {past_the_expression} is outside"),
        (made_up_report(case, kind="misaligned access"), "the report calls it 'misaligned access'"),
        # The operand as unsigned, or as a number of another width.
        (made_up_report(case, details="2147483648 - 1 in type 'int'"), "the details"),
        (made_up_report(case, details="0 - 1 in type 'int'"), "the details"),
        (made_up_report(case, details="-2147483648 + 1 in type 'int'"), "the details"),
        # The type of another operand, or none.
        (made_up_report(case, details="-2147483648 - 1 in type 'unsigned int'"), "the details"),
        (made_up_report(case, details="-2147483648 - 1 in type "), "the details"),
    ]
    for report, problem in wrong:
        problems = report_problems(report, MADE_UP_SOURCE, case, MADE_UP_COMPILER, made_up_address)
        assert len(problems) == 1 and problems[0].startswith(problem), (
            f"{report[0]!r} must fail with {problem!r} alone, but: {problems}")
    assert report_problems(None, MADE_UP_SOURCE, case, MADE_UP_COMPILER, made_up_address) == [
        "no 'undefined behaviour at' report on serial"]

    def named(test: str) -> Case:
        return next(case for case in CASES if case.test == test)

    declared_at = named_after_details(MADE_UP_SOURCE, named("null_argument_is_reported"), MADE_UP_COMPILER)[0]
    wrong_details = [  # details with one thing wrong, in the report of another case
        # A positive operand shown as the negative number of the same bits.
        ("shift_out_of_bounds_is_reported", "-2147483648 shifted by -1 in type 'unsigned int'"),
        # An address a byte off, and the variable's own, not one byte into it.
        ("misaligned_access_is_reported", "load of address 0x11004a, which is not 4-byte aligned as type "
                                          "'const unsigned int' needs"),
        ("misaligned_access_is_reported", "load of address 0x110048, which is not 4-byte aligned as type "
                                          "'const unsigned int' needs"),
        # The place of the attribute with a digit too many.
        ("null_argument_is_reported", f"null passed as argument 1, declared nonnull{declared_at}0"),
        # No place where clang gives one, or a place GCC gave none of.
        ("null_argument_is_reported", "null passed as argument 1, declared nonnull"),
        ("null_argument_is_reported", "null passed as argument 1, declared nonnull at (null):0"),
        # Words after the type, or the ending left out.
        ("object_too_small_is_reported", "load of address 0x110048, which has no room for type 'int' or more"),
        ("misaligned_access_is_reported", "load of address 0x110049, which is not 4-byte aligned as type "
                                          "'const unsigned int'"),
        # The other builtin.
        ("invalid_trailing_builtin_argument_is_reported", "zero passed to clz()"),
        # Something said where nothing is.
        ("missing_return_is_reported", "in type 'int'"),
    ]
    for test, details in wrong_details:
        problems = report_problems(made_up_report(named(test), details=details), MADE_UP_SOURCE, named(test),
                                   MADE_UP_COMPILER, made_up_address)
        assert len(problems) == 1 and problems[0].startswith("the details"), (test, details, problems)
    # GCC's kernel names no place, and must not make one up.
    null_return = named("null_return_is_reported")
    for details, problems_expected in [("null returned from a function declared returns_nonnull", 0),
                                       ("null returned from a function declared returns_nonnull at (null):0", 1)]:
        problems = report_problems(made_up_report(null_return, details=details), MADE_UP_SOURCE, null_return, "g++",
                                   made_up_address)
        assert len(problems) == problems_expected, (details, problems)


def test_report_of_undefined_behaviour_fails_a_test_that_should_panic():
    """The runner reports a test that should panic as ok when it panics,
    whatever the panic; a sanitizer's report must not pass so."""
    serial = ("KTAP version 1\n1..1\n# running should_panic_test\n"
              "# KERNEL PANIC at tests/a.cpp:7: undefined behaviour at tests/a.cpp:7:12: "
              "null pointer: load of a null pointer of type 'int'\n"
              "ok 1 should_panic_test\n")
    run = ktap.KernelRun(ktap.TestKernel("made_up", EXIT_FAILURE), None, ktap.parse(serial), 33, None, serial)
    with pytest.raises(KernelFailure, match="^PANIC: not ok 1 should_panic_test: KERNEL PANIC .* undefined"):
        ktap.check_passed(run, ktap.DeclaredTest("should_panic_test", "panics"))
