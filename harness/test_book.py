"""Checks that the book in book/ still matches the code it teaches.

For every chapter directory chapters/NN-name/ there must be a book chapter
book/NN-name.md with the sections "## What this step adds", "## Run it" and
"## Exercises". Its "What this step adds" list must name exactly the files
the step adds, changes and removes (compared with the previous chapter
directory; for the first chapter, every file), each file once, in bullets
that name one file or a few that belong together:

    - added `boot.asm`: what it is for
    - changed `main.cpp`: what changed
    - removed `start.asm`: why it went
    - added `serial_port.h` and `serial_port.cpp`: what they are for
    - added `tests/a.cpp`, `tests/b.cpp` and `tests/c.cpp`: what they test

And every code excerpt in the book that names its source must still be found,
verbatim, in that source. An excerpt is named by an HTML comment on the line
just before its fenced block (book/README.md documents this):

    <!-- from chapters/02-minimal-kernel/boot.asm -->
    ```nasm
    ...whole lines copied from the file, unchanged...
    ```

And where the book shows what a command prints, the output must be what
the command prints today.

Most of the tests need no build and no QEMU; the check of chapter 1's
transcript builds chapter 1 (half a second), one compiles a call that
chapter 3 says clang refuses, and the checks of the screens read the
halted kernels that the chapters' own tests boot. Run them
with
    /usr/bin/python3 -m pytest harness -k book
"""

import filecmp
import os
import re
import subprocess
from pathlib import Path

import pytest

import chapters
import ktap
import x86_exceptions
from elf import ElfFile
from halted import same_boot
from compilers import compiler_that_built

# A test of the book, not of a chapter's kernel: --chapter leaves it out.
pytestmark = pytest.mark.book
# On the tests that hold the book against this repository's kernels, which a
# student's workspace has rebuilt from its own sources.
WRITTEN_FOR_THIS_REPOSITORY = pytest.mark.skipif(
    bool(chapters.WORKSPACE), reason="the book describes this repository's kernels, not a workspace's")

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
BOOK = ROOT / "book"

REQUIRED_SECTIONS = ("## What this step adds", "## Run it", "## Exercises")
ADDS_SECTION = "## What this step adds"
ADDS_ITEM = re.compile(r"^- (added|changed|removed) (`[^`]+`(?:, `[^`]+`)*(?: and `[^`]+`)?): \S.*$")
ITEM_FILE = re.compile(r"`([^`]+)`")
EXCERPT_MARKER = re.compile(r"^<!--\s*from\s+(\S+)\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)")


def chapter_dirs():
    """The chapter directories that exist, in book order."""
    if not CHAPTERS.is_dir():
        return []
    return sorted(
        entry.name
        for entry in CHAPTERS.iterdir()
        if entry.is_dir() and re.match(r"^\d\d-", entry.name)
    )


def ignored_by_git(paths):
    """The paths among these that .gitignore excludes (a stray .pytest_cache,
    an editor's backup): they are not part of the chapter. Without git,
    none."""
    if not paths:
        return set()
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "--stdin"],
            input="\n".join(str(p) for p in paths), capture_output=True, text=True,
            timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return set()
    return {Path(line).resolve() for line in result.stdout.splitlines() if line}


def files_of(directory):
    """Every file below directory that belongs to the project (not ignored
    by git), as paths relative to it ('a/b.cpp')."""
    found = []
    for parent, dirs, files in os.walk(directory):
        dirs.sort()
        found += [Path(parent, name).resolve() for name in files]
    ignored = ignored_by_git(found)
    return {path.relative_to(Path(directory).resolve()).as_posix()
            for path in found if path not in ignored}


def real_changes(chapter):
    """(kind, file) pairs for what this chapter directory adds, changes and
    removes compared with the one before it: what `make diff` reports."""
    chapters = chapter_dirs()
    index = chapters.index(chapter)
    current = CHAPTERS / chapter
    if index == 0:
        return {("added", name) for name in files_of(current)}
    previous = CHAPTERS / chapters[index - 1]
    before, after = files_of(previous), files_of(current)
    changes = {("added", name) for name in after - before}
    changes |= {("removed", name) for name in before - after}
    changes |= {
        ("changed", name)
        for name in before & after
        if not filecmp.cmp(previous / name, current / name, shallow=False)
    }
    return changes


def sections(text):
    """The level-2 headings of a markdown text, outside code blocks."""
    headings = []
    in_code = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("## "):
            headings.append(line.rstrip())
    return headings


def adds_section_lines(text):
    """The lines of the "What this step adds" section (up to the next ##)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip() == ADDS_SECTION)
    body = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        body.append(line)
    return body


def book_chapter(chapter):
    return BOOK / f"{chapter}.md"


def excerpts(path):
    """(line number, source path, code) for each named excerpt in a book file,
    and a list of problems with markers that are not followed by a block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, problems = [], []
    i = 0
    while i < len(lines):
        marker = EXCERPT_MARKER.match(lines[i])
        if not marker:
            i += 1
            continue
        source, line_number = marker.group(1), i + 1
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        fence = FENCE.match(lines[j]) if j < len(lines) else None
        if not fence:
            problems.append(f"{path.name}:{line_number}: excerpt marker for {source} "
                            "is not followed by a fenced code block")
            i = j
            continue
        closing = fence.group(1)
        k = j + 1
        while k < len(lines) and lines[k].rstrip() != closing:
            k += 1
        if k == len(lines):
            problems.append(f"{path.name}:{line_number}: the code block after the "
                            f"marker for {source} is never closed")
            break
        found.append((line_number, source, "\n".join(lines[j + 1:k])))
        i = k + 1
    return found, problems


def contains_lines(text, code):
    """Whether code's lines appear in text as whole, consecutive lines."""
    haystack, needle = text.splitlines(), code.splitlines()
    if not needle:
        return False
    return any(haystack[i:i + len(needle)] == needle
               for i in range(len(haystack) - len(needle) + 1))


def book_files():
    return sorted(BOOK.glob("*.md")) if BOOK.is_dir() else []


def fail(message):
    """Fails the test with the message alone: it says all there is to say."""
    pytest.fail(message, pytrace=False)


# --- the tests ---------------------------------------------------------------


@pytest.mark.parametrize("chapter", chapter_dirs())
def test_book_chapter_has_its_sections(chapter):
    path = book_chapter(chapter)
    if not path.is_file():
        fail(f"chapter {chapter}: the book has no chapter for it; expected book/{chapter}.md")
    headings = sections(path.read_text(encoding="utf-8"))
    missing = [s for s in REQUIRED_SECTIONS if s not in headings]
    if missing:
        fail(f"chapter {chapter}: book/{chapter}.md lacks the section(s) "
             + ", ".join(f'"{s}"' for s in missing))


@pytest.mark.parametrize("chapter", chapter_dirs())
def test_book_what_this_step_adds_matches_the_code(chapter):
    path = book_chapter(chapter)
    if not path.is_file():
        fail(f"chapter {chapter}: book/{chapter}.md does not exist")
    text = path.read_text(encoding="utf-8")
    if ADDS_SECTION not in sections(text):
        fail(f'chapter {chapter}: book/{chapter}.md has no "{ADDS_SECTION}"')

    listed, malformed, twice = set(), [], []
    for line in adds_section_lines(text):
        if not line.startswith("- "):
            continue
        item = ADDS_ITEM.match(line)
        if item:
            for name in ITEM_FILE.findall(item.group(2)):
                if (item.group(1), name) in listed:
                    twice.append(f"{item.group(1)} {name}")
                listed.add((item.group(1), name))
        else:
            malformed.append(line)
    if malformed:
        fail(f"chapter {chapter}: these lines of \"{ADDS_SECTION}\" are not of the form "
             "\"- added|changed|removed `file`[, `file`... and `file`]: what\": " + " | ".join(malformed))
    if twice:
        fail(f"chapter {chapter}: \"{ADDS_SECTION}\" names these more than once: " + ", ".join(twice))

    real = real_changes(chapter)
    chapters = chapter_dirs()
    index = chapters.index(chapter)
    against = f"compared with {chapters[index - 1]}" if index else "(the first chapter)"
    not_listed = sorted(real - listed)
    not_real = sorted(listed - real)
    message = [f"chapter {chapter}: \"{ADDS_SECTION}\" in book/{chapter}.md does not "
               f"match the files of chapters/{chapter} {against}."]
    if not_listed:
        message.append("Missing from the book: "
                       + ", ".join(f"{kind} {name}" for kind, name in not_listed) + ".")
    if not_real:
        message.append("Listed but not true of the code: "
                       + ", ".join(f"{kind} {name}" for kind, name in not_real) + ".")
    if not_listed or not_real:
        fail(" ".join(message))


@pytest.mark.parametrize("book_file", book_files(), ids=lambda p: p.name)
def test_book_excerpts_match_their_sources(book_file):
    found, problems = excerpts(book_file)
    for line_number, source, code in found:
        source_path = ROOT / source
        where = f"book/{book_file.name}:{line_number}"
        if not source_path.is_file():
            problems.append(f"{where}: the excerpt names {source}, which does not exist")
            continue
        if not contains_lines(source_path.read_text(encoding="utf-8"), code):
            first = next((line for line in code.splitlines() if line.strip()), "")
            problems.append(
                f"{where}: the excerpt from {source} (starting \"{first.strip()}\") "
                "is no longer found verbatim in that file; copy it again from the source")
    if problems:
        fail("\n".join(problems))


def test_book_has_a_readme():
    if not (BOOK / "README.md").is_file():
        fail("book/README.md (how to use the book) is missing")


def test_every_appendix_is_in_the_contents():
    """A markdown file of book/ that is no chapter is an appendix, which the
    contents page (book/README.md) must link to, or no reader finds it."""
    contents = (BOOK / "README.md").read_text(encoding="utf-8")
    chapters = {f"{chapter}.md" for chapter in chapter_dirs()}
    unlisted = sorted(path.name for path in book_files()
                      if path.name != "README.md" and path.name not in chapters
                      and f"]({path.name})" not in contents)
    if unlisted:
        fail("book/README.md does not link to the appendices " + ", ".join(unlisted))


def test_excerpt_check_notices_a_changed_line():
    """The excerpt check can fail: the first excerpt of the book, with one of
    its lines changed, is no longer found in its source."""
    excerpt = next((found[0] for found in (excerpts(path)[0] for path in book_files()) if found), None)
    if excerpt is None:
        fail("the book has no excerpt marked with its source, so nothing shows the check works")
    _, source, code = excerpt
    text = (ROOT / source).read_text(encoding="utf-8")
    assert contains_lines(text, code), f"the first excerpt, from {source}, should match its source"
    lines = code.splitlines()
    lines[-1] += "  // changed"
    assert not contains_lines(text, "\n".join(lines)), "an excerpt with a changed line still matched"


# --- what the book shows a command print ---------------------------------------


def block_after(lines, first_line):
    """The lines of the first fenced block of a book file whose first line
    starts with first_line, and of the block that follows it, as two lists
    ([] if there is none)."""
    blocks, current, in_code = [], None, False
    for line in lines:
        if FENCE.match(line):
            if in_code:
                blocks.append(current)
            in_code, current = not in_code, []
        elif in_code:
            current.append(line)
    for index, block in enumerate(blocks):
        if block and block[0].startswith(first_line):
            return block, (blocks[index + 1] if index + 1 < len(blocks) else [])
    return [], []


@pytest.fixture(scope="module")
def chapter_1_kernel(tmp_path_factory):
    """Chapter 1's kernel as the book's author built it: with clang, the
    default compiler (g++ lays it out at other addresses), into a build
    directory of this test's own."""
    build_root = tmp_path_factory.mktemp("book-chapter-1")
    result = subprocess.run(["make", "--no-print-directory", "-C", str(CHAPTERS / "01-freestanding"),
                             "CXX=clang++", f"BUILD_ROOT={build_root}"],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        fail(f"chapter 1 did not build:\n{result.stdout}{result.stderr}")
    return ElfFile(build_root / "01-freestanding" / "kernel.elf")


def test_chapter_1_shows_what_nm_and_the_monitor_print(chapter_1_kernel):
    """The nm listing, the monitor's and gdb's answers in "Looking into the
    machine" are those of today's kernel: the variables' addresses, the
    values the kernel leaves there, and EIP just after halt_forever's hlt.
    A change of the code that moves them makes the book's transcript
    stale, and a reader who types the commands reads other numbers."""
    lines = book_chapter("01-freestanding").read_text(encoding="utf-8").splitlines()
    where = "book/01-freestanding.md, \"Looking into the machine\""
    elf = chapter_1_kernel
    _, listing = block_after(lines, "nm build/01-freestanding/kernel.elf")
    problems = []
    shown = {}
    for line in listing:
        fields = line.split()
        if len(fields) != 3 or not re.fullmatch(r"[0-9a-f]{8}", fields[0]):
            problems.append(f"\"{line}\" after the nm command is not a line that nm prints")
            continue
        shown[fields[2]] = int(fields[0], 16)
    for name in ("global_constructors_run", "primes_below_10000", "halt_forever"):
        real = elf.symbol(name).value
        if shown.get(name) != real:
            problems.append(f"nm shows {name} at {shown.get(name, 0):#x}; it is at {real:#x}")

    monitor, _ = block_after(lines, "(qemu) xp /2wd ")
    if not monitor:
        fail(f"{where}: no block starting \"(qemu) xp /2wd \"")
    address = int(monitor[0].split()[-1], 16)
    variables = {elf.symbol(name).value: name for name in ("global_constructors_run", "primes_below_10000")}
    if sorted(variables) != [address, address + 4]:
        problems.append(f"xp reads the words at {address:#x} and {address + 4:#x}; the variables are at "
                        + " and ".join(f"{a:#x}" for a in sorted(variables)))
    main = (CHAPTERS / "01-freestanding" / "main.cpp").read_text(encoding="utf-8")
    limit = cpp_constant(CHAPTERS / "01-freestanding" / "main.cpp", "kSieveLimit")
    composite = bytearray(limit)
    for n in range(2, limit):
        for multiple in range(n * n, limit, n):
            composite[multiple] = 1
    expected = {"global_constructors_run": len(re.findall(r"^ConstructorWitness \w+;", main, re.MULTILINE)),
                "primes_below_10000": sum(1 for n in range(2, limit) if not composite[n])}
    answer = f"{address:016x}: " + " ".join(
        f"{expected.get(variables.get(address + 4 * i), '?'):>10}" for i in range(2))
    if monitor[1].split() != answer.split():
        problems.append(f"xp's answer is shown as \"{monitor[1]}\"; it is \"{answer}\"")

    gdb, _ = block_after(lines, "qemu-system-x86_64 -kernel build/01-freestanding/kernel.elf -display none -S -s")
    printed = {}
    for asked, answer in zip(gdb, gdb[1:]):
        if (question := re.fullmatch(r"\(gdb\) print (\w+)", asked)):
            printed[question[1]] = answer
    for name in ("primes_below_10000", "global_constructors_run"):
        if not re.fullmatch(rf"\$\d+ = {expected[name]}", printed.get(name, "")):
            problems.append(f"gdb's print {name} is shown as \"{printed.get(name)}\"; it prints {expected[name]}")

    halt = elf.symbol("halt_forever")
    code = elf.initial_bytes(halt.value, halt.extent)
    after_hlt = halt.value + code.find(b"\xfa\xf4") + 2  # cli; hlt
    eip = next((re.search(r"EIP=([0-9a-f]{8})", line) for line in monitor if "EIP=" in line), None)
    if eip is None or int(eip[1], 16) != after_hlt:
        problems.append(f"info registers shows {eip[0] if eip else 'no EIP'}; "
                        f"the CPU halts with EIP={after_hlt:08x}, after halt_forever's hlt")
    if problems:
        fail(f"{where}: " + "; ".join(problems))


def string_literals(directory):
    """Every string literal of a chapter's C++ and NASM sources."""
    found = set()
    for path in sorted(directory.iterdir()):
        if path.suffix in (".cpp", ".h", ".asm"):
            found |= set(re.findall(r'"((?:[^"\\]|\\.)*)"', path.read_text(encoding="utf-8")))
    return found


def test_chapter_2_quotes_the_kernels_own_messages():
    """The boot error and the UEFI message the book says chapter 2's kernel
    prints are strings of that kernel, word for word."""
    text = book_chapter("02-minimal-kernel").read_text(encoding="utf-8")
    literals = string_literals(CHAPTERS / "02-minimal-kernel")
    _, uefi = block_after(text.splitlines(), "make run CH=02 FIRMWARE=uefi")
    quoted = re.findall(r"`(Boot error: [^`]+)`", text) + uefi
    missing = [line for line in quoted if line not in literals]
    if not uefi:
        missing.append("(no block of the UEFI boot's output after `make run CH=02 FIRMWARE=uefi`)")
    if missing:
        fail("book/02-minimal-kernel.md shows chapter 2's kernel printing what no string of "
             "chapters/02-minimal-kernel holds: " + " | ".join(missing))


def test_chapter_3_shows_the_demos_panic_line():
    """The panic line under "Run it" names the line of main.cpp where the
    demo calls panic(), and its message as that call formats it."""
    main = (CHAPTERS / "03-vga-text" / "main.cpp").read_text(encoding="utf-8").splitlines()
    calls = [(number, match) for number, line in enumerate(main, 1)
             if (match := re.match(r'\s*panic\("([^"]*)", (\d+)\);', line))]
    if len(calls) != 1:
        fail(f"chapters/03-vga-text/main.cpp has {len(calls)} panic(\"...\", number) calls, not one")
    number, call = calls[0]
    expected = f"KERNEL PANIC at main.cpp:{number}: " + call[1].replace("{}", call[2])
    shown, _ = block_after(book_chapter("03-vga-text").read_text(encoding="utf-8").splitlines(),
                           "KERNEL PANIC at ")
    if shown != [expected]:
        fail(f"book/03-vga-text.md shows the demo's panic as {shown}; the kernel prints \"{expected}\"")


@pytest.mark.parametrize("chapter", chapter_dirs())
def test_a_chapter_quotes_no_later_chapter(chapter):
    """A chapter quotes its own code, an earlier chapter's (to show what it
    changes) or common/'s. A marker that names a later chapter's copy of a
    file, which the carry-forward keeps identical for now, passes until the
    two differ; a change to this chapter's file alone then leaves the book
    showing code the chapter does not have, and the excerpt check content."""
    path = book_chapter(chapter)
    if not path.is_file():
        pytest.skip(f"book/{chapter}.md does not exist (another test says so)")
    later = [f"book/{path.name}:{line}: {source}" for line, source, _ in excerpts(path)[0]
             if (match := re.match(r"chapters/(\d\d-[^/]+)/", source)) and match[1] > chapter]
    if later:
        fail(f"chapter {chapter} quotes later chapters' files: " + "; ".join(later))


BUILD_OUTPUT = re.compile(r"\bbuild/(\d\d-[\w-]+)/([\w.-]+)")


@pytest.mark.parametrize("book_file", book_files(), ids=lambda p: p.name)
def test_the_build_outputs_the_book_names_are_made(book_file):
    """A command of the book that reads build/<chapter>/<file> names a
    chapter that exists and a file its build or make run writes there: the
    kernel's ELF or ISO, a test kernel's (TEST_KERNELS in the chapter's
    Makefile), serial.log or qemu.log. A renamed chapter or kernel leaves
    the reader's nm, objdump or qemu-system-x86_64 with "No such file"."""
    problems = []
    for number, line in enumerate(book_file.read_text(encoding="utf-8").splitlines(), 1):
        for chapter, name in BUILD_OUTPUT.findall(line):
            makefile = CHAPTERS / chapter / "Makefile"
            if not makefile.is_file():
                problems.append(f"book/{book_file.name}:{number}: build/{chapter}/: there is no chapter {chapter}")
                continue
            declared = re.findall(r"^(?:UBSAN_)?TEST_KERNELS\s*[:+]?=\s*(.*)$",
                                  makefile.read_text(encoding="utf-8"), re.MULTILINE)
            kernels = {"kernel"} | {kernel for value in declared for kernel in value.split()}
            # fdisk names a partition of an image file by the file's name and its number.
            stem, _, kind = re.sub(r"(\.iso)\d$", r"\1", name).rpartition(".")
            if name not in ("serial.log", "qemu.log") and not (kind in ("elf", "iso") and stem in kernels):
                problems.append(f"book/{book_file.name}:{number}: build/{chapter}/{name} is not a file "
                                f"that chapter's build writes (its kernels: {', '.join(sorted(kernels))})")
    if problems:
        fail("\n".join(problems))


@WRITTEN_FOR_THIS_REPOSITORY
@same_boot("03-vga-text")
def test_chapter_3_run_it_describes_the_screen_the_kernel_leaves(halted_kernels, request):
    """"Run it" quotes chapter 3's last screen: the row it starts with, the
    texts on it, and the panic line. Each quote must be on the screen the
    kernel leaves when it halts (the boot test_03 reads, shared with it).
    A change of the demo that the text does not follow would otherwise
    leave the reader looking for rows that are not there."""
    lines = book_chapter("03-vga-text").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("The screen fills from the top"))
    end = next(i for i in range(start, len(lines)) if FENCE.match(lines[i]))
    quotes = re.findall(r"`([^`]+)`", " ".join(lines[start:end]))
    panic, _ = block_after(lines, "KERNEL PANIC at ")
    screen = halted_kernels("03-vga-text", request.node).machine.screen().lines()
    problems = [f"`{quote}` is on no row" for quote in quotes if not any(quote in row for row in screen)]
    if quotes and not screen[0].startswith(quotes[0]):
        problems.append(f"the top row is \"{screen[0]}\", not the `{quotes[0]}` the text begins with")
    problems += [f"the panic line \"{line}\" is no row of the screen" for line in panic if line not in screen]
    if problems:
        fail("book/03-vga-text.md, \"Run it\", against the screen chapter 3's kernel leaves: "
             + "; ".join(problems) + "\nThe screen:\n" + "\n".join(screen))


def code_span_after(text, phrase):
    """The first code span (`x`, or ``x`` around a backquote) after a
    phrase of a book text, or None."""
    at = text.find(phrase)
    if at < 0:
        return None
    span = re.search(r"``(.+?)``|`([^`]+)`", text[at + len(phrase):])
    return (span[1] or span[2]) if span else None


@WRITTEN_FOR_THIS_REPOSITORY
@pytest.mark.parametrize("chapter", [pytest.param(chapter, marks=same_boot(chapter))
                                     for chapter in ("01-freestanding", "02-minimal-kernel")])
def test_chapters_1_and_2_describe_the_screen_the_kernel_leaves(chapter, halted_kernels, request):
    """What "Run it" says the screen shows: GRUB's line under chapter 1,
    "Hello World!" over the rest of it under chapter 2, and the cells the
    monitor's xp prints there (the halted kernel the chapter's tests boot)."""
    text = " ".join(book_chapter(chapter).read_text(encoding="utf-8").split())  # lines joined
    screen = halted_kernels(chapter, request.node).machine.screen()
    problems = []
    if chapter == "01-freestanding":
        grub = code_span_after(text, "You will see GRUB's line")
        if grub is None or not any(grub in row for row in screen.lines()):
            problems.append(f"GRUB's line `{grub}` is on no row")
    else:
        top = code_span_after(text, "So you see")
        if top is None or not screen.lines()[0].startswith(top):
            problems.append(f"the top row is \"{screen.lines()[0]}\", which does not start with `{top}`")
        shown = (code_span_after(text, "`xp /12hx 0xb8000` prints the first 12 cells,") or "").split()
        cells = [f"{screen.memory[2 * i] | screen.memory[2 * i + 1] << 8:#06x}" for i in range(12)]
        values = [value for value in shown if value != "..."]
        if not values or values != cells[:len(values)]:
            problems.append(f"xp /12hx 0xb8000 is shown printing {' '.join(shown) or 'nothing'}; "
                            f"the cells are {' '.join(cells)}")
    if problems:
        fail(f"book/{chapter}.md, against the screen the kernel leaves: " + "; ".join(problems)
             + "\nThe screen:\n" + screen.text())


def test_chapter_3_shows_the_compilers_own_complaint(tmp_path):
    """The error message chapter 3 shows for a format string with a
    placeholder too many is what clang says today for that call, line by
    line (each after its file:line:column). A renamed format_error_*
    function, or another wording of clang's, leaves the book's lines
    matching nothing the reader sees."""
    lines = book_chapter("03-vga-text").read_text(encoding="utf-8").splitlines()
    flat = " ".join(lines)
    call = re.search(r"`(println\([^`]*\))` fails to compile with:", flat)
    if call is None:
        fail("book/03-vga-text.md: no \"`println(...)` fails to compile with:\" to check")
    shown, _ = block_after(lines, "error: call to consteval function")
    source = tmp_path / "refused.cpp"
    source.write_text(f'#include "print.h"\n\nvoid refused(int x) {{ {call[1]}; }}\n', encoding="utf-8")
    result = subprocess.run(
        ["clang++", "--target=x86_64-unknown-none-elf", "-std=c++20", "-ffreestanding", "-fno-exceptions",
         "-fno-rtti", "-fsyntax-only", f"-I{CHAPTERS / '03-vga-text'}", f"-I{ROOT / 'common'}", str(source)],
        capture_output=True, text=True, timeout=120)
    said = [re.sub(r"^\S+:\d+:\d+: ", "", line) for line in result.stderr.splitlines()]
    missing = [line for line in shown if line not in said]
    if result.returncode == 0 or not shown or missing:
        fail(f"book/03-vga-text.md shows `{call[1]}` failing with lines clang does not print: "
             + (" | ".join(missing) if missing else "(no block of them)")
             + "\nclang said:\n" + result.stderr[-3000:])


def shown_rows_problems(shown, rows):
    """What is wrong with a block of the book that shows rows of a screen:
    its lines, in order, each on a row of its own; a line "..." stands for
    any number of rows, "0x..." for any hexadecimal number and "=..." for
    the rest of its row. The lines between two "..." are rows that follow
    one another."""
    groups, current = [], []
    for line in shown + ["..."]:
        if line.strip() == "...":
            if current:
                groups.append(current)
            current = []
            continue
        pattern = re.escape(line.rstrip()).replace(r"0x\.\.\.", "0x[0-9a-f]+")
        current.append((line, re.compile(re.sub(r"=\\\.\\\.\\\.$", "=.*", pattern))))
    problems, at = [], 0
    for group in groups:
        found = next((start for start in range(at, len(rows) - len(group) + 1)
                      if all(pattern.fullmatch(rows[start + i].rstrip()) for i, (_, pattern) in enumerate(group))), None)
        if found is None:
            nowhere = [line.strip() for line, pattern in group
                       if not any(pattern.fullmatch(row.rstrip()) for row in rows)]
            lines = " / ".join(line.strip() for line, _ in group)
            problems.append(" | ".join(f"\"{line}\" is on no row" for line in nowhere) if nowhere else
                            f"the lines \"{lines}\" are no rows that follow one another"
                            + (f" after row {at}" if at else ""))
            continue
        at = found + len(group)
    return problems


def monitor_problems(text, halted, names):
    """What the "Run it" of chapters 5 and 6 says the QEMU monitor shows
    and xp reads: the lines of info registers in a block that starts with
    one of the names (as info registers prints them, only its spaces
    counted loosely), and the quadwords that `xp /Ngx address` is said to
    print, read from the halted machine's memory."""
    lines = text.splitlines()
    problems = []
    shown, _ = block_after(lines, names[0])
    printed = {line.split("=")[0].strip(): line.split() for line in halted.registers.text.splitlines()
               if "=" in line}
    for name in names:
        line = next((line for line in shown if line.startswith(name)), None)
        if line is None:
            problems.append(f"the block of info registers has no {name} line")
        elif line.split() != printed.get(name.rstrip("= ")):
            problems.append(f"info registers is shown printing \"{line}\"; it prints "
                            f"\"{' '.join(printed.get(name.rstrip('= '), ['nothing']))}\"")
    flat = " ".join(lines)
    for count, address, values in re.findall(r"`xp /(\d+)gx (0x[0-9a-f]+)`[^`]*`((?:0x[0-9a-f]+ ?)+)`", flat):
        memory = halted.machine.read_memory(int(address, 16), 8 * int(count))
        real = [f"{int.from_bytes(memory[i:i + 8], 'little'):#018x}" for i in range(0, len(memory), 8)]
        if values.split() != real:
            problems.append(f"xp /{count}gx {address} is shown printing {values}; it prints {' '.join(real)}")
    return problems


RUN_IT_SCREENS = {"05-cpu-exceptions": ("Chapter 5: CPU exceptions", ["IDT="]),
                  "06-double-faults": ("Overflowing the kernel stack on purpose...", ["TR =", "GDT="])}


@WRITTEN_FOR_THIS_REPOSITORY
@pytest.mark.parametrize("chapter", [pytest.param(chapter, marks=same_boot(chapter)) for chapter in RUN_IT_SCREENS])
def test_chapters_5_and_6_show_the_screen_and_tables_the_kernel_leaves(chapter, halted_kernels, request):
    """"Run it" of chapters 5 and 6 shows the end of the screen the demo
    leaves (the reports, the panic's file and line, the addresses of the
    clang build), then what the QEMU monitor shows of the IDT, the GDT and
    the task register, and the entries xp reads there: each against the
    kernel halted at the end (the boot test_boot_state reads, shared with
    it). A change of the kernel that moves a line or an address leaves the
    reader comparing their screen with numbers it never shows."""
    halted = halted_kernels(chapter, request.node)
    if compiler_that_built(halted.elf.path) != "clang++":
        pytest.skip("the book shows the addresses of the kernels clang builds, and these are g++'s")
    text = book_chapter(chapter).read_text(encoding="utf-8")
    first, registers = RUN_IT_SCREENS[chapter]
    shown, _ = block_after(text.splitlines(), first)
    screen = halted.machine.screen().lines()
    problems = shown_rows_problems(shown, screen) if shown else [f"no block starting \"{first}\""]
    problems += monitor_problems(text, halted, registers)
    if chapter == "05-cpu-exceptions":
        entry = halted.elf.symbol("exception_entry_0").value
        flat = " ".join(text.split())
        said = code_span_after(flat, "`exception_entry_0` is at")
        if said != f"{entry:#x}":
            problems.append(f"exception_entry_0 is said to be at {said}; it is at {entry:#x}")
        for bits, value in (("0-15", entry & 0xffff), ("16-31", entry >> 16 & 0xffff)):
            said = code_span_after(flat, f"offset bits {bits}")
            if said != f"{value:04x}":
                problems.append(f"gate 0's offset bits {bits} are said to be {said}; they are {value:04x}")
    if problems:
        fail(f"book/{chapter}.md, \"Run it\", against the kernel halted at its end: " + "; ".join(problems)
             + "\nThe screen:\n" + "\n".join(screen))


# Intel SDM vol. 3, table 6-1 (the class of each exception) and table 6-4
# (the classes the double fault rules sort them into); 28-30, AMD's, have
# no class in the chapter's table.
EXCEPTION_CLASSES = {0: "fault", 1: "fault or trap", 2: "interrupt", 3: "trap", 4: "trap", 5: "fault", 6: "fault",
                     7: "fault", 8: "abort", 9: "fault", 10: "fault", 11: "fault", 12: "fault", 13: "fault",
                     14: "fault", 16: "fault", 17: "fault", 18: "abort", 19: "fault", 20: "fault", 21: "fault"}
CONTRIBUTORY = {0, 10, 11, 12, 13, 21}
PAGE_FAULT_CLASS = {14, 20}
ERROR_CODE_ALWAYS_0 = {8, 17}


def test_chapter_5_tables_the_exceptions_as_the_manuals_do():
    """Chapter 5's table of the exceptions gives each vector the mnemonic
    and name of the manuals (x86_exceptions.py, the harness's own table),
    its class, and an error code exactly where the CPU pushes one; the
    double fault rules list the contributory and page fault classes of the
    SDM. A vector off by one, or an error code the CPU never pushes, would
    pass every other check of the book and mislead the reader of a
    report."""
    text = book_chapter("05-cpu-exceptions").read_text(encoding="utf-8")
    rows = [tuple(cell.strip() for cell in row)
            for row in re.findall(r"^\|\s*(\d+(?:-\d+)?)\s*\|(.*?)\|(.*?)\|(.*?)\|$", text, re.MULTILINE)]
    problems, listed = [], set()

    def name_of(words):
        return re.sub(r"\s+", " ", re.sub(r"`[^`]*`|\([^)]*\)", "", words)).strip().lower()

    for vectors, name, kind, error_code in rows:
        first, _, last = vectors.partition("-")
        numbers = list(range(int(first), int(last or first) + 1))
        listed |= set(numbers)
        mnemonics = re.findall(r"`(#[A-Z]+)`", name)
        expected = [x86_exceptions.NAMES[n][0] for n in numbers if x86_exceptions.NAMES[n][0]]
        if mnemonics != expected:
            problems.append(f"vector {vectors} is shown as {' '.join(mnemonics) or 'no mnemonic'}; "
                            f"the manuals name it {' '.join(expected) or 'with none'}")
        if len(numbers) > 1:
            said = set(re.findall(r"`(#[A-Z]+)`", error_code)) if "yes" in error_code else set()
            real = {x86_exceptions.NAMES[n][0] for n in numbers if n in x86_exceptions.ERROR_CODE_VECTORS}
            if said != real:
                problems.append(f"vectors {vectors}: the error code is shown for {sorted(said)}, "
                                f"the CPU pushes one for {sorted(real)}")
            continue
        number = numbers[0]
        if name_of(name) != name_of(x86_exceptions.NAMES[number][1]):
            problems.append(f"vector {number} is called \"{name}\"; the manuals call it "
                            f"\"{x86_exceptions.NAMES[number][1]}\"")
        if kind != EXCEPTION_CLASSES.get(number, ""):
            problems.append(f"vector {number} is shown as \"{kind}\", the SDM says "
                            f"\"{EXCEPTION_CLASSES.get(number, '(none: reserved)')}\"")
        has = number in x86_exceptions.ERROR_CODE_VECTORS
        if error_code.startswith("yes") != has or ("always 0" in error_code) != (number in ERROR_CODE_ALWAYS_0):
            problems.append(f"vector {number}'s error code is shown as \"{error_code}\"; the CPU pushes "
                            + ("one" + (", always 0" if number in ERROR_CODE_ALWAYS_0 else "") if has else "none"))
    named = {n for n, (mnemonic, _) in x86_exceptions.NAMES.items() if mnemonic or n in (2, 9)}
    if not named <= listed:
        problems.append(f"the table leaves out vectors {sorted(named - listed)}")
    flat = " ".join(text.split())
    for kind, members in (("contributory", CONTRIBUTORY), ("page faults", PAGE_FAULT_CLASS)):
        shown = re.search(rf"\*{kind}\* \(([^)]*)\)", flat)
        said = set(re.findall(r"`(#[A-Z]+)`", shown[1])) if shown else set()
        real = {x86_exceptions.NAMES[n][0] for n in members}
        if said != real:
            problems.append(f"the {kind} class is shown as {sorted(said)}; the SDM's is {sorted(real)}")
    if problems:
        fail("book/05-cpu-exceptions.md, \"The exception types\": " + "; ".join(problems))


# --- chapter 4: the reports of the test kernels, the exit status, the UART -----

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen").split()
TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_in_words(number):
    """0 to 99 as the book spells them: "eleven", "fifty-two"."""
    if number < 20:
        return NUMBER_WORDS[number]
    tens, ones = divmod(number, 10)
    return TENS_WORDS[tens - 2] + (f"-{NUMBER_WORDS[ones]}" if ones else "")


def cpp_constant(path, name):
    """The value of `name = <integer literal>` (a constexpr or an enum's
    member) in a chapter source file."""
    match = re.search(rf"\b{name}(?:\{{|\s*=\s*)(0x[0-9a-fA-F]+|\d+)(?:'\d+)*", path.read_text(encoding="utf-8"))
    if match is None:
        fail(f"{path.relative_to(ROOT)} gives {name} no value")
    return int(match[1], 0)


def ktap_block_problems(block, declared, failures, where):
    """What is wrong with a block that shows part of failing_tests' KTAP
    report: the plan against the tests the ELF declares; each result's
    number, name and ok against the declared order and the tests that fail
    on purpose; each "failed at FILE:LINE" against the line of the source
    that holds the expression; each value line against what the harness
    expects that test to print (test_04_testing.py, checked on a real
    boot). "..." stands for lines left out."""
    problems, pending = [], []  # pending: diagnostics of the result still to come
    names = [test.name for test in declared]
    for line in block + ["..."]:
        if line == "..." or line.startswith("KTAP version"):
            if line.startswith("KTAP") and line != "KTAP version 1":
                problems.append(f"{where}: \"{line}\" is not what the runner prints, \"KTAP version 1\"")
            continue
        if (plan := re.fullmatch(r"1\.\.(\d+)", line)):
            if int(plan[1]) != len(names):
                problems.append(f"{where}: the plan is shown as {line}; failing_tests declares {len(names)} tests")
            continue
        result = re.fullmatch(r"(not ok|ok) (\d+) (\w+)", line)
        if result is None:
            pending.append(line)
            continue
        number, name = int(result[2]), result[3]
        if not 1 <= number <= len(names) or names[number - 1] != name:
            real = names.index(name) + 1 if name in names else None
            problems.append(f"{where}: \"{line}\": " + (f"{name} is test {real}" if real else
                                                        f"failing_tests declares no {name}"))
        expected = failures.get(("failing_tests", name))
        if (result[1] == "ok") != (expected is None):
            problems.append(f"{where}: \"{line}\": {name} " + ("passes" if expected is None else "fails on purpose"))
        for diagnostic in pending:
            running = re.fullmatch(r"# running (\w+)", diagnostic)
            if running and running[1] != name:
                problems.append(f"{where}: \"{diagnostic}\" is followed by the result of {name}")
            failed = re.fullmatch(r"# (.+) failed at (\S+):(\d+)", diagnostic)
            if failed:
                source = (CHAPTERS / "04-testing" / failed[2])
                lines = source.read_text(encoding="utf-8").splitlines() if source.is_file() else []
                at = int(failed[3])
                if not (at <= len(lines) and failed[1] in lines[at - 1]):
                    holding = [n for n, text in enumerate(lines, 1) if failed[1] in text]
                    problems.append(f"{where}: \"{diagnostic}\": {failed[1]} is on line "
                                    f"{holding or 'none'} of chapters/04-testing/{failed[2]}")
            value = re.fullmatch(r"# ( {2}\S.*)", diagnostic)
            if value and expected is not None and not any(value[1] in text for text in expected.lines):
                problems.append(f"{where}: \"{diagnostic}\" is not what {name} prints "
                                f"(the harness expects {' | '.join(expected.lines)})")
        pending = []
    return problems


@WRITTEN_FOR_THIS_REPOSITORY
def test_chapter_4_shows_the_reports_and_statuses_the_test_kernels_give(build):
    """What chapter 4 and the harness appendix show the test kernels print:
    the plan of unit_tests and its exit status, failing_tests' report (the
    failed expectation in "Expectations", the KTAP of "The report: KTAP"),
    its panic, the results left unrun after it, and its exit status; the
    statuses of isa-debug-exit's arithmetic, here and in the solutions.
    Read from the ELF files the chapter's tests collect from, the sources,
    qemu_exit.h and what test_04_testing expects of a real boot: no boot of
    its own. A test added or a line moved in failing_expectations.cpp
    would otherwise leave the reader's QEMU printing other numbers."""
    # Imported here, not with the others: importing test_04_testing collects
    # chapter 4, which builds it, and the other book tests need no build.
    from test_04_testing import expected_failures
    chapter = build.chapter("04-testing")
    if compiler_that_built(chapter.elf()) != "clang++":
        pytest.skip("the book shows the order of tests clang links; g++ reverses each file's")
    text = book_chapter("04-testing").read_text(encoding="utf-8")
    flat = " ".join(text.split())
    appendix = (BOOK / "test-harness.md").read_text(encoding="utf-8")
    solutions = " ".join((BOOK / "solutions.md").read_text(encoding="utf-8").split())
    header = CHAPTERS / "04-testing" / "qemu_exit.h"
    codes = {name: cpp_constant(header, name) for name in ("success", "failure")}
    status = {name: ((code << 1) | 1) & 0xff for name, code in codes.items()}
    problems = []

    def said(where, pattern, source, *expected):
        match = re.search(pattern, source)
        if match is None:
            problems.append(f"{where}: no text matches {pattern}")
        elif list(match.groups()) != [str(value) for value in expected]:
            problems.append(f"{where}: \"{match[0]}\" should say {', '.join(map(str, expected))}")

    unit_tests = ktap.declared_tests(chapter.elf("unit_tests"))
    declared = ktap.declared_tests(chapter.elf("failing_tests"))
    failures = expected_failures()
    said("Run it", r"`1\.\.(\d+)`, ([\w-]+) `ok` lines\) and then `(\d+)`", flat,
         len(unit_tests), number_in_words(len(unit_tests)), status["success"])
    panicked = next(test.name for test in declared
                    if failures.get(("failing_tests", test.name), None) is not None
                    and failures[("failing_tests", test.name)].verdict.name == "PANIC")
    after = len(declared) - 1 - [test.name for test in declared].index(panicked)
    said("Run it", r"then a panic in `(\w+)` after which the last (\w+) tests are reported as not run, "
                   r"and exits with `(\d+)`", flat, panicked, number_in_words(after), status["failure"])
    said("Run it", r"so that run panics in its first test and reports the other (\w+) as not run", flat,
         number_in_words(len(declared) - 1))
    said("\"Ending QEMU with a verdict\"", r"`(0x[0-9a-f]+)` is (\d+); shifted left it is (\d+), and with the "
         r"low bit set, (\d+)\. `(0x[0-9a-f]+)` is (\d+), giving (\d+)\.", flat,
         f"{codes['success']:#x}", codes["success"], codes["success"] << 1, status["success"],
         f"{codes['failure']:#x}", codes["failure"], status["failure"])
    top_bit = re.search(r"`(0x[0-9a-f]+)` gives (\d+) as well", flat)
    if top_bit is None or int(top_bit[1], 16) == codes["success"] or \
            ((int(top_bit[1], 16) << 1) | 1) & 0xff != int(top_bit[2]) or int(top_bit[2]) != status["success"]:
        problems.append(f"\"Ending QEMU with a verdict\": \"{top_bit[0] if top_bit else '(no `0x..` gives N as well)'}\""
                        f" should name another value that gives {status['success']}")
    said("test-harness.md", r"exit status \((\d+) or (\d+)\)", " ".join(appendix.split()),
         status["success"], status["failure"])
    said("solutions.md, chapter 4", r"`unit_tests\.iso` ends with (\d+), `failing_tests\.iso` with (\d+)",
         solutions, status["success"], status["failure"])

    names = {test.name for test in unit_tests}
    for where, source in (("book/04-testing.md", text), ("book/test-harness.md", appendix)):
        for selection in re.findall(r"tests=([a-z0-9_]+(?:,[a-z0-9_]+)*)", source):
            unknown = [name for name in selection.split(",") if name not in names]
            if unknown:
                problems.append(f"{where}: tests={selection} names what unit_tests does not declare: "
                                + ", ".join(unknown))
    chosen = re.search(r"pytest harness -k (\w+)", flat)
    matching = sorted(name for name in names if chosen and chosen[1] in name)
    if len(matching) != 1 or code_span_after(flat, "boots with the command line") != f"tests={matching[0]}":
        problems.append(f"Run it: -k {chosen[1] if chosen else '?'} selects {matching or 'no test'} of unit_tests; "
                        f"the command line shown is `{code_span_after(flat, 'boots with the command line')}`")

    expectation, _ = block_after(text.splitlines(), "# EXPECT_EQ(")
    report, _ = block_after(appendix.splitlines(), "KTAP version 1")
    for where, block in (("book/04-testing.md, \"Expectations\"", expectation),
                         ("book/test-harness.md, \"The report: KTAP\"", report)):
        if not block:
            problems.append(f"{where}: no block of failing_tests' report")
        problems += ktap_block_problems(block, declared, failures, where)
    if problems:
        fail("what the book shows of chapter 4's test kernels is not what they print:\n" + "\n".join(problems))


@WRITTEN_FOR_THIS_REPOSITORY
@same_boot("04-testing")
def test_chapter_4_run_it_shows_the_last_row_and_serial_line_the_kernel_leaves(halted_kernels, request):
    """"Run it" says chapter 4's demo ends with the serial port's row on the
    screen and sends one line on serial: the row must be the last the
    kernel leaves written when it halts, and the line one of its serial
    output (the boot test_boot_state reads, shared with it). A reworded
    message in main.cpp would leave the reader looking for a line that
    never comes."""
    flat = " ".join(book_chapter("04-testing").read_text(encoding="utf-8").split())
    halted = halted_kernels("04-testing", request.node)
    rows = [row.rstrip() for row in halted.machine.screen().lines() if row.strip()]
    serial = [line.rstrip("\r") for line in halted.machine.serial_text.split("\n")]
    last_row, line = code_span_after(flat, "ending with"), code_span_after(flat, "shows the serial line")
    problems = []
    if not rows or last_row != rows[-1]:
        problems.append(f"the demo is said to end with `{last_row}`; its last row is \"{rows[-1] if rows else ''}\"")
    if line not in serial:
        problems.append(f"the serial line `{line}` is not a line the kernel sent; it sent:\n" + "\n".join(serial))
    if problems:
        fail("book/04-testing.md, \"Run it\", against the kernel halted at its end: " + "; ".join(problems))


# The 16550's registers as National Semiconductor's PC16550D datasheet
# gives them: the bits chapter 4 names, and the receive FIFO's trigger
# levels (FIFO control bits 6-7) in bytes.
UART_CLOCK = 1_843_200  # Hz, divided by 16 and then by the divisor
LINE_CONTROL_DIVISOR_LATCH_BIT = 7
LINE_CONTROL_STOP_BITS_BIT, LINE_CONTROL_PARITY_ENABLE_BIT = 2, 3
FIFO_ENABLE_BIT, FIFO_CLEAR_RECEIVE_BIT, FIFO_CLEAR_TRANSMIT_BIT = 0, 1, 2
FIFO_TRIGGER_LEVELS = {1: 0b00, 4: 0b01, 8: 0b10, 14: 0b11}
LINE_STATUS_TRANSMIT_HOLDING_EMPTY_BIT = 5


def test_chapter_4_gives_the_uart_the_bits_the_datasheet_does():
    """"The serial port" explains each value serial_port.cpp writes, bit by
    bit: COM1's ports, the divisor latch bit, the divisor, 8N1, the FIFO
    control byte and the line status bit the transmitter waits on. Each must
    be what the driver's constant holds and what the 16550's datasheet says
    that bit does: the excerpts are checked against the source, but not the
    prose that explains them, where a bit off by one teaches the reader a
    register that is not so."""
    flat = " ".join(book_chapter("04-testing").read_text(encoding="utf-8").split())
    driver = CHAPTERS / "04-testing" / "serial_port.cpp"
    problems = []

    def claim(pattern):
        match = re.search(pattern, flat)
        if match is None:
            problems.append(f"no text matches {pattern}")
        return match

    if (ports := claim(r"COM1, has its eight registers at I/O ports `(0x[0-9A-Fa-f]+)` to `(0x[0-9A-Fa-f]+)`")):
        base = cpp_constant(CHAPTERS / "04-testing" / "serial_port.h", "kCom1")
        if (int(ports[1], 16), int(ports[2], 16)) != (base, base + 7):
            problems.append(f"\"{ports[0]}\": kCom1 is {base:#x}, so its eight registers are "
                            f"{base:#x} to {base + 7:#x}")
    if (latch := claim(r"Bit (\d+) of the line control register, the \*divisor latch access bit\*")):
        if int(latch[1]) != LINE_CONTROL_DIVISOR_LATCH_BIT or \
                1 << int(latch[1]) != cpp_constant(driver, "kDivisorLatchAccess"):
            problems.append(f"\"{latch[0]}\": the divisor latch access bit is bit {LINE_CONTROL_DIVISOR_LATCH_BIT} "
                            f"(kDivisorLatchAccess = {cpp_constant(driver, 'kDivisorLatchAccess'):#x})")
    if (divisor := claim(r"A divisor of (\d+) means (\d+) bits per second")):
        written = cpp_constant(driver, "kDivisorFor115200Baud")
        if int(divisor[1]) != written or int(divisor[2]) != UART_CLOCK // 16 // written:
            problems.append(f"\"{divisor[0]}\": the driver writes the divisor {written}, "
                            f"{UART_CLOCK // 16 // written} baud")
    if (line := claim(r"sets (\d) data bits \(bits 0-1 = `([01]{2})`\), no parity \(bit (\d) clear\) "
                      r"and one stop bit \(bit (\d) clear\): `(0x[0-9a-fA-F]+)`")):
        data_bits, length, parity, stop, value = int(line[1]), line[2], int(line[3]), int(line[4]), int(line[5], 16)
        if (int(length, 2) != data_bits - 5 or parity != LINE_CONTROL_PARITY_ENABLE_BIT
                or stop != LINE_CONTROL_STOP_BITS_BIT or value != data_bits - 5
                or value != cpp_constant(driver, "kEightDataBitsNoParityOneStop")):
            problems.append(f"\"{line[0]}\": 8N1 is bits 0-1 = `11` (8 - 5), parity enable (bit "
                            f"{LINE_CONTROL_PARITY_ENABLE_BIT}) and two stop bits (bit {LINE_CONTROL_STOP_BITS_BIT}) "
                            f"clear: 0x03, and the driver writes "
                            f"{cpp_constant(driver, 'kEightDataBitsNoParityOneStop'):#04x}")
    if (fifo := claim(r"`(0x[0-9A-Fa-f]+)` enables them \(bit (\d)\), empties both \(bits (\d) and (\d)\), "
                      r"and sets the receive interrupt threshold to (\d+) bytes \(bits 6-7")):
        value, enable, clears, level = int(fifo[1], 16), int(fifo[2]), {int(fifo[3]), int(fifo[4])}, int(fifo[5])
        real = 1 << FIFO_ENABLE_BIT | 1 << FIFO_CLEAR_RECEIVE_BIT | 1 << FIFO_CLEAR_TRANSMIT_BIT \
            | FIFO_TRIGGER_LEVELS.get(level, 0) << 6
        if (enable != FIFO_ENABLE_BIT or clears != {FIFO_CLEAR_RECEIVE_BIT, FIFO_CLEAR_TRANSMIT_BIT}
                or level not in FIFO_TRIGGER_LEVELS or value != real
                or value != cpp_constant(driver, "kEnableAndClearFifos")):
            problems.append(f"\"{fifo[0]}\": FIFO control bit {FIFO_ENABLE_BIT} enables, bits "
                            f"{FIFO_CLEAR_RECEIVE_BIT} and {FIFO_CLEAR_TRANSMIT_BIT} empty, bits 6-7 choose "
                            f"1, 4, 8 or 14 bytes; the driver writes {cpp_constant(driver, 'kEnableAndClearFifos'):#04x}")
    if (status := claim(r"\(bit (\d) of the line status register\)")):
        if int(status[1]) != LINE_STATUS_TRANSMIT_HOLDING_EMPTY_BIT or \
                1 << int(status[1]) != cpp_constant(driver, "kTransmitHoldingEmpty"):
            problems.append(f"\"{status[0]}\": the transmit holding register is empty at line status bit "
                            f"{LINE_STATUS_TRANSMIT_HOLDING_EMPTY_BIT} "
                            f"(kTransmitHoldingEmpty = {cpp_constant(driver, 'kTransmitHoldingEmpty'):#04x})")
    if problems:
        fail("book/04-testing.md, \"The serial port\", against serial_port.cpp and the 16550's datasheet:\n"
             + "\n".join(problems))
