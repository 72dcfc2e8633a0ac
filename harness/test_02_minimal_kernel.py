"""Chapter 2: GRUB loads a Multiboot2 kernel that switches to long mode and
writes to the VGA text buffer.

The screen is checked cell by cell in guest memory, character and colour,
and each of the boot code's checks by a CPU that lacks what it checks for:
a QEMU CPU model without long mode or PAE, or, through QEMU's gdb stub, a
CPU whose EFLAGS.ID does not flip, one without the extended CPUID leaf that
reports long mode, and a loader that is not Multiboot2. Through the stub
too, a loader whose boot information describes a screen the kernel must
not write to: chapter 2's and chapter 3's, which read it with the same
multiboot2.cpp; a non-maskable interrupt at each halt, and a call of
halt_forever with interrupts on; the stack GRUB left, painted at _start
and read back at the halt; and a UART whose modem lines are low, which
must still receive the serial text.
"""

import re
import struct
import subprocess

import pytest

import boot_state
import interrupt_log
import multiboot2_header
from chapters import CHAPTERS, all_chapters
from elf import ElfFile
from gdb_stub import DIRECTION_FLAG, EFLAGS, RAX, RCX, RDI, RIP, RSP, GdbStub, GdbStubError
from halted import same_boot
from verdict import KernelFailure
from vga_screen import COLUMNS, CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER, ROWS, describe_attribute

CHAPTER = "02-minimal-kernel"
LIGHT_GREEN_ON_BLACK = 0x0A
WHITE_ON_RED = 0x4F
# This chapter and every one after it carry a copy of multiboot_header.asm
# (chapter 1 is loaded by Multiboot 1). Those that are here: the build-along
# path runs this module in a workspace of chapter 2 alone.
MULTIBOOT2_CHAPTERS = [directory for directory in all_chapters() if directory[:2] != "01"]
# The chapters whose kernel_main asks the boot information for VGA text
# mode and says on serial what it cannot show (test_uefi.KERNEL_DEMOS);
# later chapters read the information with a multiboot2.cpp of their own,
# which their unit tests check.
SCREEN_CHECKING_CHAPTERS = {"02-minimal-kernel": "Hello World!", "03-vga-text": "the demo"}

# Chapter 3 takes boot.asm, halt.cpp and early_serial.cpp from chapter 2
# unchanged, and its kernel runs its own copies. Where a copy differs from
# chapter 2's (a step that broke or mended one), the plays of them below
# boot chapter 3 too, so that its grade, taken alone, answers for them;
# the same code is judged once, with chapter 2. Each kernel's end on the
# screen: chapter 2's greeting at the top left, chapter 3's demo's panic on
# the row above the last.
BOOT_CODE_CHAPTERS = {"02-minimal-kernel": (0, 0, "Hello World!", LIGHT_GREEN_ON_BLACK),
                      "03-vga-text": (ROWS - 2, 0, "KERNEL PANIC at main.cpp:", WHITE_ON_RED)}
BOOT_CODE_FILES = ("boot.asm", "halt.cpp", "early_serial.cpp")
BOOT_CODE_DIRECTORIES = [directory for directory in all_chapters() if directory in BOOT_CODE_CHAPTERS]


def boot_code_of_its_own(directory: str) -> bool:
    """Chapter 2, or a chapter whose copy of the boot code is not chapter 2's."""
    return directory == CHAPTER or not (CHAPTERS / CHAPTER).is_dir() or any(
        (CHAPTERS / directory / name).read_bytes() != (CHAPTERS / CHAPTER / name).read_bytes()
        for name in BOOT_CODE_FILES)


of_each_boot_code_chapter = pytest.mark.parametrize(
    "directory", [directory for directory in BOOT_CODE_DIRECTORIES if boot_code_of_its_own(directory)])

# The Multiboot2 boot information: a block of tags, each 8-byte aligned,
# starting after the block's 8-byte header with its type and size.
END_TAG, FRAMEBUFFER_TAG = 0, 8
TAG_HEADER = struct.Struct("<II")
# The framebuffer tag's fields after its header: address, pitch, width,
# height, bits per pixel, type (0 indexed pixels, 1 RGB pixels, 2 EGA text).
FRAMEBUFFER_FIELDS = {"address": (8, "<Q"), "pitch": (16, "<I"), "width": (20, "<I"), "height": (24, "<I"),
                      "type": (29, "<B")}
INDEXED_PIXELS, RGB_PIXELS = 0, 1
NOT_80X25 = "the text mode is not 80x25 at 0xb8000."
PIXELS = "the screen is a framebuffer of pixels, as UEFI leaves it."
NO_SCREEN = "the boot loader describes no screen at all."
IDENTITY_MAP_END = 1 << 30  # identity_map.h
ID_FLAG = 1 << 21  # EFLAGS.ID: software can flip it where CPUID exists
LOADERS_STACK_PAINTED = 256  # bytes below the ESP the loader left
# The UART at COM1 (16550), as the early serial lines use it.
COM1 = 0x3F8  # read: the received byte
FIFO_CONTROL, MODEM_CONTROL, LINE_STATUS = COM1 + 2, COM1 + 4, COM1 + 5
FIFOS_ON_AND_EMPTIED = 0x07
LOOPBACK = 0x10  # in the modem control register; DTR, RTS, OUT1 and OUT2 clear
DATA_READY = 0x01  # in the line status register
RECEIVE_FIFO_SIZE = 16
MULTIBOOT1_MAGIC = 0x2BADB002


@pytest.fixture(scope="module")
def chapter(build):
    return build.chapter(CHAPTER)


def boot_with_direction_flag_set(boot, chapter, stub, qemu_args=()):
    """Boots with the CPU stopped at _start and sets EFLAGS.DF there (which
    Multiboot2 allows); the stub goes on from there."""
    machine = boot(chapter.iso(), qemu_args=[*stub.qemu_arguments(), *qemu_args], timeout=10)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | DIRECTION_FLAG)
    return machine


def test_grub_recognises_a_multiboot2_kernel(chapter):
    result = subprocess.run(["grub-file", "--is-x86-multiboot2", str(chapter.elf())])
    assert result.returncode == 0, "grub-file finds no valid Multiboot2 header in kernel.elf"


@pytest.mark.parametrize("directory", MULTIBOOT2_CHAPTERS)
def test_multiboot2_header_is_as_the_specification_lays_it_out(build, directory):
    problems = multiboot2_header.header_problems(ElfFile(build.chapter(directory).elf()))
    assert not problems, f"{directory}'s kernel.elf: " + "; ".join(problems)


# The boot that test_boot_state reads chapter 2's page tables and GDT from
# (halted.py). Asked for here rather than as a fixture, so that a boot that
# fails is this test's failure, not an error in its set-up.
@same_boot(CHAPTER)
def test_prints_hello_world_and_halts(request, halted_kernels):
    machine = halted_kernels(CHAPTER, request.node).machine
    expect_alone_at_the_top_left(machine.screen(), "Hello World!", LIGHT_GREEN_ON_BLACK)


def expect_alone_at_the_top_left(screen, message: str, attribute: int) -> None:
    """The message at the top left in its colour, and no other cell in that
    colour: the rest is GRUB's, in light grey, so such a cell is one the
    kernel wrote past its message."""
    __tracebackhide__ = True
    screen.expect_text(0, 0, message, attribute=attribute)
    extra = [(row, column) for row in range(ROWS) for column in range(COLUMNS)
             if screen.cell(row, column).attribute == attribute and (row, column) >= (0, len(message))]
    assert not extra, (
        f"a cell in {describe_attribute(attribute)} besides {message!r}, at row {extra[0][0]} column "
        f"{extra[0][1]} (byte {screen.cell(*extra[0]).byte:#04x}; {len(extra)} in all): the kernel writes "
        f"past its message (its terminating zero?)\n" + screen.render())


def expect_boot_error(machine, message):
    """The message on serial and in white on red at the top left, the CPU
    halted in boot_error, and no "Hello World!" (a wrong "ok")."""
    machine.wait_for_serial("^" + re.escape(message) + "$")
    registers = machine.wait_until_halted()
    assert not machine.triple_faulted
    expect_alone_at_the_top_left(machine.screen(), message, WHITE_ON_RED)
    machine.screen().expect_absent(["Hello World!"])
    where = machine.describe_address(registers.rip - 1)  # the hlt, which RIP is past
    assert where is not None and where.startswith("boot_error"), f"halted at {where}, not in the boot error path"
    expect_serial_to_end_with_lines(machine, message)


def expect_serial_to_end_with_lines(machine, *lines: str, context: str = "") -> None:
    """Each line ends as a terminal needs it, "\\r\\n": back to the start
    of the line, then down."""
    __tracebackhide__ = True
    ending = "".join(f"{line}\r\n" for line in lines).encode()
    assert machine.serial_bytes.endswith(ending), (
        f"{context}serial output as the kernel sent it: expected it to end {ending!r}, "
        f"got {machine.serial_bytes[-200:]!r}")


# Each CPU lacks exactly what its message names. A 32-bit CPU, qemu32, is
# the boot of test_boot_error_reads_right_with_the_direction_flag_set.
@pytest.mark.parametrize("cpu, message", [
    ("qemu64,-lm", "Boot error: this CPU has no 64-bit long mode"),
    ("qemu64,-pae", "Boot error: this CPU has no PAE, which long mode needs"),
])
@of_each_boot_code_chapter
def test_cpu_lacking_a_feature_gets_its_own_error_and_a_halt(boot, build, directory, cpu, message):
    machine = boot(build.chapter(directory).iso(), qemu_args=["-cpu", cpu], timeout=10)
    expect_boot_error(machine, message)


@of_each_boot_code_chapter
def test_cpu_without_cpuid_gets_its_own_error(boot, build, directory, stub):
    # No QEMU model lacks CPUID, so the test plays such a CPU at the one
    # place the boot code asks: after it tried to flip EFLAGS.ID, it reads
    # the bit back unchanged (EAX = ECX, the original EFLAGS).
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("check_cpuid.id_bit_read_back").value)
    stub.write_register(RAX, stub.read_register(RCX))
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no CPUID instruction")


# CPUID answers a leaf above the highest with another leaf's data, so the
# LM bit of leaf 0x80000001 means nothing unless leaf 0x80000000 says the
# CPU has that leaf. QEMU's models without it (pentium2, pentium3) lack LM
# in leaf 0x80000001 too, so they cannot show the check missing: the test
# plays older CPUs while the real leaf 0x80000001 still says LM. One has
# extended leaves up to 0x80000000; one has none at all, and answers leaf
# 0x80000000 with the data of its highest basic leaf (SDM vol. 2, CPUID),
# whose EAX can be any small number: compared as signed, it would pass for
# more than 0x80000001.
@pytest.mark.parametrize("highest_extended_leaf", [0x80000000, 0x0000000D],
                         ids=["0x80000000", "a_basic_leafs_data"])
@of_each_boot_code_chapter
def test_cpu_without_the_extended_feature_leaf_gets_the_long_mode_error(boot, build, directory, stub,
                                                                        highest_extended_leaf):
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("check_long_mode.highest_extended_leaf").value)
    stub.write_register(RAX, highest_extended_leaf)
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no 64-bit long mode")


@of_each_boot_code_chapter
def test_cpu_whose_highest_extended_leaf_is_the_long_mode_one_boots(boot, build, directory):
    """Leaf 0x80000001 says whether the CPU has long mode: a CPU whose
    extended leaves end there has all the boot code asks for, though
    QEMU's default CPU has more. A check wanting a higher leaf (jbe for
    jb) would refuse it."""
    machine = boot(build.chapter(directory).iso(), qemu_args=["-cpu", "qemu64,xlevel=0x80000001"], timeout=10)
    machine.wait_until_halted_in("halt_forever")
    expect_the_kernels_end(machine, directory)


@of_each_boot_code_chapter
def test_cpu_with_the_id_flag_already_set_boots(boot, build, directory, stub):
    # Multiboot2 leaves EFLAGS.ID undefined, so the loader may hand over
    # with it set. CPUID exists if the bit flips, whichever way: a check
    # that only tries to set it finds it unchanged and calls a CPU with
    # CPUID one without.
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | ID_FLAG)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_absent(["Boot error"])
    expect_the_kernels_end(machine, directory)


def expect_the_kernels_end(machine, directory: str) -> None:
    """The chapter's kernel ran to its end (BOOT_CODE_CHAPTERS)."""
    __tracebackhide__ = True
    machine.screen().expect_text(*BOOT_CODE_CHAPTERS[directory])


@of_each_boot_code_chapter
def test_kernel_not_loaded_by_multiboot2_gets_its_own_error_and_a_lasting_halt(boot, build, directory, stub):
    """The magic of Multiboot 1 in EAX: the boot code's error, and a halt
    that lasts. cli masks every interrupt but the non-maskable one, which
    wakes the CPU from hlt; its handler returns after the hlt. A halt
    without the jump back falls through into the code after it
    (write_serial_byte, whose ret leads back into _start, and on to boot
    the kernel the error stopped). No handler of this kernel's is there to
    take a real NMI, so the test plays one at boot_error's hlt, with the
    message already out."""
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(RAX, MULTIBOOT1_MAGIC)
    problems = boot_state.non_maskable_interrupt_problems(machine, stub, machine.symbol("boot_error.halt").value)
    assert not problems, "\n".join(problems)
    expect_boot_error(machine, "Boot error: not loaded by a Multiboot2 loader")


def kernel_main_on_a_screen_of_pixels(machine, stub: GdbStub, directory: str) -> str:
    play_a_loader_of_pixels(machine, stub)
    return f"No VGA text mode, so {SCREEN_CHECKING_CHAPTERS[directory]} is not shown:"


def boot_error_of_a_multiboot1_loader(machine, stub: GdbStub, _directory: str) -> str:
    stub.run_to(machine.symbol("_start").value)
    stub.write_register(RAX, MULTIBOOT1_MAGIC)
    return "Boot error: not loaded by a Multiboot2 loader"


@pytest.mark.parametrize("play", [kernel_main_on_a_screen_of_pixels, boot_error_of_a_multiboot1_loader],
                         ids=lambda play: play.__name__)
@of_each_boot_code_chapter
def test_serial_text_is_sent_when_the_line_status_register_says_so(boot, build, directory, stub, play):
    """Each byte goes out once bit 5 of the line status register (COM1+5)
    says the UART can take it. Under QEMU the same bit of the modem status
    register beside it (COM1+6), Data Set Ready, is set too, which a real
    port with nothing attached leaves clear: a kernel that polled that one
    would lose all its text there, a tenth of a second for each byte.
    QEMU's UART lowers its modem lines only in loopback mode, where what
    the kernel sends comes back to its own receiver: the test turns
    loopback on with every modem line low, and the FIFOs on, before the
    text, and reads the first bytes back from the receiver."""
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    line = play(machine, stub, directory)
    machine.write_port(FIFO_CONTROL, FIFOS_ON_AND_EMPTIED)
    machine.write_port(MODEM_CONTROL, LOOPBACK)
    stub.detach()
    machine.wait_until_halted()
    received = bytearray()
    while len(received) < RECEIVE_FIFO_SIZE and machine.read_port(LINE_STATUS) & DATA_READY:
        received.append(machine.read_port(COM1))
    expected = line[:RECEIVE_FIFO_SIZE].encode()
    assert received == expected, (
        f"the UART, its modem lines low (Data Set Ready clear, as on a port with nothing attached), received "
        f"{bytes(received)!r} of the kernel's {expected!r}: does the kernel wait on another register than the line "
        f"status register ({LINE_STATUS:#x}), or another bit than its bit 5, transmit holding register empty?")


@of_each_boot_code_chapter
def test_halt_forever_halts_for_good(boot, build, directory, stub):
    """As chapter 1's, at chapter 2's halt_forever. Chapter 3's demo
    reaches it with interrupts already off (its panic's cli), which hid a
    halt without its own cli, or without its loop, from every other test."""
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    problems = boot_state.halt_forever_problems(machine, stub)
    assert not problems, "\n".join(problems)


@of_each_boot_code_chapter
def test_first_cpp_call_finds_the_direction_flag_clear_and_the_stack_aligned(boot, build, directory, stub):
    """boot_state.first_call_problems, in 64-bit code. A misaligned stack
    goes unnoticed until code that needs the alignment runs. The first
    call must be run_global_constructors: this kernel has no global object
    yet, so one that calls it after kernel_main shows nothing wrong until
    chapter 3's writer is used before it is constructed. kernel_main's
    first mark, its message on the screen, must not be there yet."""
    machine = boot_with_direction_flag_set(boot, build.chapter(directory), stub)
    try:
        stub.run_to(machine.symbol("run_global_constructors").value)
    except GdbStubError as error:
        pytest.fail(f"the CPU never reached run_global_constructors, which long_mode_start must call before "
                    f"kernel_main ({error})")
    flags, rsp = stub.read_register(EFLAGS), stub.read_register(RSP)
    top_row = machine.screen().row_text(0)
    stub.detach()
    problems = boot_state.first_call_problems(flags, rsp, mode_bits=64)
    if top_row.startswith("Hello World!"):
        problems.append("the screen already reads 'Hello World!' as run_global_constructors begins: kernel_main "
                        "ran first, and would use global objects before their constructors ran (long_mode_start "
                        "must call run_global_constructors before kernel_main)")
    assert not problems, "\n".join(problems)


@of_each_boot_code_chapter
def test_kernel_pushes_nothing_onto_the_loaders_stack(boot, build, directory, stub):
    """Multiboot2 leaves ESP undefined: _start must load its own stack
    before its first call or push. GRUB hands over with ESP in a stack of
    its own, so a kernel that pushes there works in QEMU, and on a loader
    whose ESP points anywhere it writes anywhere. The test paints the
    bytes below the ESP that GRUB left, and at the halt they must be as
    painted."""
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("_start").value)
    loaders_stack_pointer = stub.read_register(RSP)
    painted = loaders_stack_pointer - LOADERS_STACK_PAINTED
    stub.write_memory(painted, boot_state.STACK_PAINT * LOADERS_STACK_PAINTED)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    stack = machine.read_memory(painted, LOADERS_STACK_PAINTED)
    written = [painted + offset for offset, byte in enumerate(stack) if bytes([byte]) != boot_state.STACK_PAINT]
    assert not written, (
        f"the kernel wrote below the stack pointer GRUB left at _start (ESP={loaders_stack_pointer:#x}), down to "
        f"{min(written):#x}: it pushed onto the loader's stack, which Multiboot2 leaves undefined; _start must "
        "load its own (mov esp, stack_top) before its first call or push")


@of_each_boot_code_chapter
def test_stack_pointer_is_loaded_whole_in_long_mode(boot, build, directory, stub):
    # The upper halves of the registers are undefined after the switch to
    # 64-bit mode; QEMU leaves them zero, so the test plays a CPU that
    # does not, at the first 64-bit instruction. The 32-bit stack pointer
    # with garbage above it points far from the stack, into memory that
    # the identity map leaves unmapped.
    machine = boot(build.chapter(directory).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol("long_mode_start").value)
    stub.write_register(RSP, stub.read_register(RSP) | 0xFFFF_FFFF_0000_0000)
    stub.detach()
    try:
        machine.wait_until_halted_in("halt_forever")
    except KernelFailure as failure:
        pytest.fail(f"with RSP's upper half not zero at long_mode_start (no mov rsp, stack_top?): {failure}")
    expect_the_kernels_end(machine, directory)


@pytest.mark.parametrize("directory", [pytest.param(directory, marks=same_boot(directory))
                                       for directory in BOOT_CODE_DIRECTORIES])
def test_the_kernel_runs_within_its_stack(request, halted_kernels, directory):
    """At the halt the kernel's writes must not have reached the bottom of
    its stack, which GRUB zeroed with the rest of .bss
    (boot_state.stack_depth_problems; the halted kernel of test_boot_state,
    shared). Below it lies the page directory, which an overrun would
    change under the CPU, and whose last entries only a 2 MiB page near
    1 GiB uses."""
    machine = halted_kernels(directory, request.node).machine
    problems = boot_state.stack_depth_problems(machine, unwritten=b"\0")
    assert not problems, "\n".join(problems)


@of_each_boot_code_chapter
def test_boot_error_reads_right_with_the_direction_flag_set(boot, build, directory, stub):
    # On a 32-bit CPU, qemu32.
    machine = boot_with_direction_flag_set(boot, build.chapter(directory), stub, qemu_args=["-cpu", "qemu32"])
    stub.detach()
    expect_boot_error(machine, "Boot error: this CPU has no 64-bit long mode")


def framebuffer_tag(block: bytes) -> tuple[int, int]:
    """The offset and size of the framebuffer tag in GRUB's block."""
    offset = 8
    while offset + TAG_HEADER.size <= len(block):
        tag_type, size = TAG_HEADER.unpack_from(block, offset)
        assert tag_type != END_TAG, "GRUB passed no framebuffer tag under a BIOS"
        if tag_type == FRAMEBUFFER_TAG:
            return offset, size
        offset += (size + 7) & ~7
    raise AssertionError("the boot information ends without an end tag")


# Each play changes GRUB's block (`block`, as read from `information`) in
# guest memory through the stub, or the registers kernel_main reads.

def text_mode_of_another_layout(field: str, value: int):
    def change(stub: GdbStub, information: int, block: bytes) -> None:
        tag, _ = framebuffer_tag(block)
        offset, layout = FRAMEBUFFER_FIELDS[field]
        stub.write_memory(information + tag + offset, struct.pack(layout, value))
    return change


def play_a_loader_of_pixels(machine, stub: GdbStub) -> None:
    """For the later chapters' tests that must write nothing to 0xb8000
    where there is no text screen: stops the CPU as kernel_main begins and
    makes the framebuffer tag describe pixels where GRUB's text mode is,
    as under UEFI, where QEMU drops writes to 0xb8000 and none could show.
    The CPU stays stopped there."""
    stub.run_to(machine.symbol("kernel_main").value)
    information = stub.read_register(RDI)
    size, = struct.unpack("<I", stub.read_memory(information, 4))
    text_mode_of_another_layout("type", RGB_PIXELS)(stub, information, stub.read_memory(information, size))


def no_framebuffer_tag(stub: GdbStub, information: int, block: bytes) -> None:
    # A tag of a type the kernel does not know, which a walk steps over.
    tag, _ = framebuffer_tag(block)
    stub.write_memory(information + tag, struct.pack("<I", 0xFFFF))


def end_tag_before_the_framebuffer_tag(stub: GdbStub, information: int, block: bytes) -> None:
    # The framebuffer tag moves 8 bytes on, over the start of the next tag,
    # and an end tag takes its place: the list ends there, although the
    # block's total size reaches further. A walk that looked past the end
    # tag would find the screen.
    tag, size = framebuffer_tag(block)
    stub.write_memory(information + tag + 8, block[tag:tag + size])
    stub.write_memory(information + tag, TAG_HEADER.pack(END_TAG, TAG_HEADER.size))


def framebuffer_tag_reaching_past_the_block(stub: GdbStub, information: int, block: bytes) -> None:
    tag, _ = framebuffer_tag(block)
    stub.write_memory(information + tag + 4, struct.pack("<I", len(block)))


def framebuffer_tag_too_short_for_its_fields(stub: GdbStub, information: int, block: bytes) -> None:
    # Its size says it ends after the address: the pitch, width, height
    # and type GRUB wrote after it still read 80x25 text, but they are no
    # part of the tag, and after a tag this short at the end of a block
    # they would be whatever memory follows.
    tag, _ = framebuffer_tag(block)
    stub.write_memory(information + tag + 4, struct.pack("<I", FRAMEBUFFER_FIELDS["address"][0] + 8))


def first_tag_smaller_than_its_header(stub: GdbStub, information: int, block: bytes) -> None:
    # Its size, 4, does not even cover its own type and size: where the
    # next tag begins is unknown. A walk that went on all the same, 8 bytes
    # on, would find a tag there of the size that leads to the second tag,
    # and so to the screen. (GRUB's first tag, the command line, is at
    # least 16 bytes long with its padding.)
    _, size = TAG_HEADER.unpack_from(block, 8)
    assert size > TAG_HEADER.size, f"GRUB's first tag is only {size} bytes long"
    stub.write_memory(information + 8,
                      TAG_HEADER.pack(0xFFFF, 4) + TAG_HEADER.pack(0xFFFF, ((size + 7) & ~7) - 8))


def block_reaching_past_the_identity_map(stub: GdbStub, information: int, _block: bytes) -> None:
    stub.write_memory(information, struct.pack("<I", 0xFFFF_FFF8))


def block_ending_at_the_identity_maps_end_inside_a_tag(stub: GdbStub, _information: int, block: bytes) -> None:
    # GRUB's block moved to end at 1 GiB, where boot.asm's identity map
    # ends, its total size cut 4 bytes into its last tag: that tag's type
    # lies inside the block, its size just past the map. A walk that reads
    # a tag's size before it knows the size lies in the block faults there
    # (this kernel has no handler). GRUB's last tag, the end tag, becomes
    # one of a type the walk does not know, and so does the framebuffer
    # tag, or the walk would stop before it. (GRUB puts its block 8-byte
    # aligned, as Multiboot2 asks; this one is 4 bytes off.)
    tag, _ = framebuffer_tag(block)
    last = len(block) - TAG_HEADER.size
    assert TAG_HEADER.unpack_from(block, last) == (END_TAG, TAG_HEADER.size), \
        "GRUB's block does not end with its end tag"
    moved = bytearray(block[:-4])
    struct.pack_into("<II", moved, 0, len(moved), 0)
    struct.pack_into("<I", moved, tag, 0xFFFF)
    struct.pack_into("<I", moved, last, 0xFFFF)
    address = IDENTITY_MAP_END - len(moved)
    stub.write_memory(address, bytes(moved))
    stub.write_register(RDI, address)


def block_beyond_the_identity_map(stub: GdbStub, _information: int, _block: bytes) -> None:
    # At 1 GiB, where boot.asm's identity map ends: reading even the
    # block's size would be a page fault, and this kernel has no handler.
    stub.write_register(RDI, IDENTITY_MAP_END)


# What the loader says, and what the kernel must answer; each case differs
# from GRUB's true description of the BIOS's 80x25 text mode in one way.
LOADER_PLAYS = {
    "monochrome_adapter_at_0xb0000": (text_mode_of_another_layout("address", 0xB0000), NOT_80X25),
    "40_columns": (text_mode_of_another_layout("width", 40), NOT_80X25),
    "50_rows": (text_mode_of_another_layout("height", 50), NOT_80X25),
    "rows_of_132_cells": (text_mode_of_another_layout("pitch", 264), NOT_80X25),
    # The text mode's address and size, but pixels: 80x25 of them.
    "pixels_where_the_text_mode_would_be": (text_mode_of_another_layout("type", RGB_PIXELS), PIXELS),
    # Pixels of a palette: a check for RGB pixels alone takes them for text.
    "palette_pixels_where_the_text_mode_would_be": (text_mode_of_another_layout("type", INDEXED_PIXELS), PIXELS),
    "no_framebuffer_tag": (no_framebuffer_tag, NO_SCREEN),
    "end_tag_before_the_framebuffer_tag": (end_tag_before_the_framebuffer_tag, NO_SCREEN),
    "framebuffer_tag_reaching_past_the_block": (framebuffer_tag_reaching_past_the_block, NO_SCREEN),
    "framebuffer_tag_too_short_for_its_fields": (framebuffer_tag_too_short_for_its_fields, NO_SCREEN),
    "first_tag_smaller_than_its_header": (first_tag_smaller_than_its_header, NO_SCREEN),
    "block_reaching_past_the_identity_map": (block_reaching_past_the_identity_map, NO_SCREEN),
    "block_ending_at_the_identity_maps_end_inside_a_tag": (block_ending_at_the_identity_maps_end_inside_a_tag,
                                                            NO_SCREEN),
    "block_beyond_the_identity_map": (block_beyond_the_identity_map, NO_SCREEN),
}
# Memory up to the end of the identity map, for the block that ends there:
# QEMU's default, 128 MiB, has nothing there for the stub to write to.
MEMORY_UP_TO_THE_IDENTITY_MAPS_END = ["-m", "1G"]


@pytest.mark.parametrize("directory", [directory for directory in all_chapters()
                                       if directory in SCREEN_CHECKING_CHAPTERS])
def test_kernel_writes_nothing_to_a_screen_the_loader_does_not_describe_as_80x25_text(
        boot, build, stub, directory):
    """GRUB under a BIOS always describes the same 80x25 text mode in a
    well-formed block, so each of why_no_vga_text_mode's checks, and each
    of the tag walk's, is tried by changing the boot information (or its
    address) when kernel_main is about to read it. One boot plays every
    loader in turn: kernel_main reads nothing but the boot information and
    returns, so the stub sends the CPU into it again after each play, on
    the same stack, with GRUB's block put back and changed anew."""
    machine = boot(build.chapter(directory).iso(),
                   qemu_args=[*stub.qemu_arguments(), *MEMORY_UP_TO_THE_IDENTITY_MAPS_END], timeout=10)
    kernel_main, halt_forever = machine.symbol("kernel_main").value, machine.symbol("halt_forever").value
    stub.run_to(kernel_main)
    stack, information = stub.read_register(RSP), stub.read_register(RDI)
    # boot.asm's call to halt_forever pushes its return address where
    # kernel_main's was.
    return_address = stub.read_memory(stack, 8)
    total_size, = struct.unpack("<I", stub.read_memory(information, 4))
    from_grub = stub.read_memory(information, total_size)
    heading = f"No VGA text mode, so {SCREEN_CHECKING_CHAPTERS[directory]} is not shown:"
    for play, (change, reason) in LOADER_PLAYS.items():
        # The VGA's ports may lead nowhere on a machine without a text
        # screen: chapter 3's writer, which hides the hardware cursor
        # through them, must not touch them either. Another register than
        # the cursor's is left selected, and must still be at the end.
        machine.write_port(CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER)
        stub.write_memory(information, from_grub)
        stub.write_memory(stack, return_address)
        stub.write_register(RSP, stack)
        stub.write_register(RDI, information)
        stub.write_register(RIP, kernel_main)
        change(stub, information, from_grub)
        try:
            stub.run_to(halt_forever)  # where kernel_main returns to, and a panic ends
        except GdbStubError as error:
            what = interrupt_log.describe_triple_fault(machine.qemu_log(), machine.describe_address) \
                if machine.triple_faulted else str(error)
            pytest.fail(f"the loader that plays {play}: kernel_main never returned: {what}")
        try:
            # The screen first: a kernel that wrote to it has returned all
            # the same, and waiting for its serial text would call it hung.
            machine.screen().expect_absent(["Hello World!", "KERNEL PANIC"])
            machine.wait_for_serial(rf"{re.escape(heading)}\s+{re.escape(reason)}", timeout=2)
        except KernelFailure as failure:
            pytest.fail(f"the loader that plays {play}: {failure}")
        expect_serial_to_end_with_lines(machine, heading, reason, context=f"the loader that plays {play}: ")
        selected = machine.read_port(CRTC_INDEX_PORT)
        if selected != CURSOR_LOCATION_LOW_REGISTER:
            pytest.fail(f"the loader that plays {play}: the CRT controller's index port (0x3d4) selects register "
                        f"{selected:#04x}, not {CURSOR_LOCATION_LOW_REGISTER:#04x} as the test left it: the kernel "
                        "wrote to the VGA's ports although the boot information describes no 80x25 text screen")
