"""Every chapter's kernel.iso is a hybrid image: besides booting as a CD,
it boots written raw to a hard disk or a USB stick, under a BIOS and under
UEFI, as an image made by grub-mkrescue does (common/make-iso.sh).

First the image's layout is read from its bytes, in the order a PC reads
it: the MBR with GRUB's boot code, which must know where GRUB's core lies,
a core that finds the rest of GRUB on the image, and two partitions, the
first the ISO 9660 file system, the second an EFI system partition with an
x86-64 EFI application at the path a firmware starts, and El Torito's UEFI
entry pointing at that same partition. El Torito's BIOS entry, which every
chapter's tests boot, must load all of GRUB's cdboot.img and tell it where
the rest of the core is. Then what GRUB reads there: a grub.cfg that boots
at once, found where the EFI application looks for it, with the modules it
needs built in (GRUB can load no module from the disc under UEFI), and a
kernel with its symbol table and without its debug information. A mistake
there shows in these reads at once, where a boot shows most of them only as
a HANG after half a minute (at GRUB's prompt, or in an MBR that jumps
nowhere), and a wrong partition type not at all: OVMF boots from any FAT
partition. Then the image is booted the ways a PC meets a stick: as a raw
IDE disk and as a USB mass-storage device (on an xHCI controller), under
SeaBIOS and under OVMF, and each boot must show the kernel's own output:
its screen under a BIOS, its words on serial under UEFI, which has no text
screen (test_uefi.py), and chapter 1's results in memory. Each boot reads
the way in its firmware takes first, and fails at once if that is broken.

`make test` boots every chapter from an IDE disk under SeaBIOS, and one
chapter each from a USB stick under SeaBIOS and from each kind of disk
under OVMF (a UEFI boot takes some 4 s); `make test-uefi` (--uefi-all)
boots every chapter every way.

The UBSan build changes the kernel in the image, not the image: its
kernel boots the same way from a CD, where --ubsan's other tests boot it
under a BIOS. Under UEFI the kernel takes a path of its own (it finds no
text mode), which no other test of `make test` boots for chapter 03, so
--ubsan runs the UEFI boots too (chapter 02 has no UBSan build).
"""

from __future__ import annotations

import lzma
import re
import subprocess
import struct
from pathlib import Path

import pytest

from build import BUILD_LIMITS, run_program_within_limits
from chapters import all_chapters
from elf import ElfFile
from isos import MAKE_ISO
from test_uefi import KERNEL_DEMOS, NO_TEXT_MODE_REASON

SECTOR = 512
CD_SECTOR = 2048
BOOT_SIGNATURE = b"\x55\xaa"
BOOTABLE = 0x80
UNUSED_PARTITION = 0x00
EFI_SYSTEM_PARTITION = 0xEF
EFI_APPLICATION = "::/EFI/BOOT/BOOTX64.EFI"
# A PE32+ image for x86-64 whose subsystem is an EFI application
# (Microsoft's PE format, the UEFI specification's section 2.1.1).
PE_SIGNATURE = b"PE\0\0"
PE32_PLUS = 0x20B
X86_64_MACHINE = 0x8664
EFI_APPLICATION_SUBSYSTEM = 10
# GRUB's BIOS boot, as common/make-iso.sh lays it out: the MBR holds
# boot_hybrid.img, into which xorriso's --grub2-boot-info patches the
# sector where GRUB's core begins, 2 KiB (cdboot.img) into El Torito's
# BIOS image; and into that image's core the sector its block list starts
# from, one further on.
GRUB_BIOS = Path("/usr/lib/grub/i386-pc")
HYBRID_MBR_CODE = slice(0, 0x1B0)
CORE_SECTOR = 0x1B0
CDBOOT_SECTORS = 4
CORE_BLOCK_LIST = 2548
# The core itself: diskboot.img (one sector, what the MBR's code runs),
# then lzma_decompress.img, whose bytes 8 and 12 hold the length of the
# LZMA stream that follows it and of what that unpacks to (GRUB's
# include/grub/offsets.h); grub-mkimage packs the stream raw, with lc=3,
# lp=0, pb=2 and a 64 KiB dictionary (util/mkimage.c). The unpacked core
# ends with its module list, a grub_module_info32.
DISKBOOT_SIZE = SECTOR
LZMA_DECOMPRESSOR = GRUB_BIOS / "lzma_decompress.img"
CORE_LZMA = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16, "lc": 3, "lp": 0, "pb": 2}]
# What the BIOS core needs built in to find the rest of GRUB on the image.
BIOS_MODULES_NEEDED = {
    "biosdisk": "what reads the disk through the BIOS",
    "iso9660": "the file system that holds /boot/grub",
}
GRUB_CONFIG = "/boot/grub/grub.cfg"
KERNEL = "/boot/kernel.elf"
# Which module of GRUB's EFI build holds which command, as GRUB's normal
# reads it: "multiboot2: multiboot2", and "*search: search" for some.
EFI_COMMAND_LIST = Path("/usr/lib/grub/x86_64-efi/command.lst")
# What GRUB's EFI application needs built in to boot from the image, and
# why: it can load no module from the disc, which holds a BIOS's only.
EFI_MODULES_NEEDED = {
    "iso9660": "the file system that holds grub.cfg and the kernel",
    "normal": "what reads grub.cfg",
    "efi_gop": "what hands the kernel the firmware's graphics mode; without it the boot information "
               "describes no screen at all",
}
# A grub-mkimage module of this type is the prefix, the folder of grub.cfg
# (GRUB's include/grub/kernel.h: OBJ_TYPE_ELF is 0, OBJ_TYPE_PREFIX 3).
ELF_MODULE = 0
PREFIX_MODULE = 3

# El Torito: the boot record volume descriptor in CD sector 17 names the
# sector of the boot catalog, whose 32-byte entries name each boot image.
BOOT_RECORD_SECTOR = 17
EL_TORITO_ID = b"EL TORITO SPECIFICATION"
SECTION_HEADERS = (0x90, 0x91)  # more sections follow / the last one
X86_PLATFORM = 0x00
EFI_PLATFORM = 0xEF
# The BIOS's entry, the default one: bootable, without emulation of a
# floppy or hard disk, and the number of 512-byte sectors the BIOS loads
# and runs, which must hold all of GRUB's cdboot.img. mkisofs's
# -boot-info-table writes into the image, at byte 8, where the primary
# volume descriptor and the image itself lie (bi_pvd, bi_file): cdboot.img
# finds the rest of GRUB's core with them.
BOOTABLE_ENTRY = 0x88
NO_EMULATION = 0x00
PRIMARY_VOLUME_DESCRIPTOR_SECTOR = 16
BOOT_INFO_TABLE = 8

# What each chapter's kernel shows when it has booted, on a text screen.
SCREEN_LINES = {
    "02-minimal-kernel": ["Hello World!"],
    "03-vga-text": ["uint64_t 0 .. 18446744073709551615"],
    "04-testing": ["uint64_t 0 .. 18446744073709551615"],
    "05-cpu-exceptions": ["It did not crash: the breakpoint handler returned."],
    "06-double-faults": ["Overflowing the kernel stack on purpose...", "EXCEPTION 8 #DF Double Fault"],
}
# Chapter 1 shows nothing: it leaves its results in memory.
PRIMES_BELOW_10000 = 1229

ATTACHMENTS = ("ide", "usb")
FIRMWARES = ("bios", "uefi")
# The boots of every `make test`; the others need --uefi-all. The UEFI
# boots go to chapters 02 and 03, whose kernels test_uefi.py boots only
# with --uefi-all (it boots a test kernel of each later chapter): each
# chapter meets OVMF once in every run, and these boots check what its
# kernel says under UEFI.
IN_EVERY_RUN = {(chapter, "bios", "ide") for chapter in all_chapters()} | {
    ("02-minimal-kernel", "bios", "usb"),
    ("02-minimal-kernel", "uefi", "ide"),
    ("03-vga-text", "uefi", "usb"),
}


class Partition:
    def __init__(self, entry: bytes):
        self.bootable = entry[0] == BOOTABLE
        self.type = entry[4]
        self.first_sector, self.sectors = struct.unpack_from("<II", entry, 8)


def master_boot_record(image: Path) -> tuple[bytes, list[Partition]]:
    """The MBR's boot code and its four partition entries."""
    with image.open("rb") as file:
        sector = file.read(SECTOR)
    assert sector[510:512] == BOOT_SIGNATURE, \
        f"{image.name} has no MBR (no 0x55 0xaa at byte 510): a BIOS will not boot it from a disk"
    return sector[:440], [Partition(sector[446 + 16 * n:462 + 16 * n]) for n in range(4)]


def check_bios_way_in(image: Path) -> None:
    """What a BIOS needs to boot the image as a disk: an MBR whose code is
    GRUB's boot_hybrid.img, told where GRUB's core lies, and a core told
    where the rest of it lies (without either number the code jumps into
    whatever it loaded: QEMU shows a HANG or an exception loop); a core
    that reads the disk and its file system, and looks for the rest of
    GRUB where the image holds it (or it stops at its prompt)."""
    boot_code, _ = master_boot_record(image)
    hybrid = (GRUB_BIOS / "boot_hybrid.img").read_bytes()
    assert any(boot_code), "the MBR holds no boot code: a BIOS runs zeros (--grub2-mbr in common/make-iso.sh)"
    assert boot_code[HYBRID_MBR_CODE] == hybrid[HYBRID_MBR_CODE], (
        f"the MBR's code is not GRUB's boot_hybrid.img ({GRUB_BIOS}), the one MBR that loads GRUB's core "
        "from an ISO image (--grub2-mbr in common/make-iso.sh)")
    bios_image = el_torito_images(image).get(X86_PLATFORM)
    assert bios_image is not None, "El Torito's catalog has no BIOS entry: GRUB's core is not on the image"
    core = bios_image + CDBOOT_SECTORS
    mbr_says = struct.unpack_from("<Q", boot_code, CORE_SECTOR)[0]
    assert mbr_says == core, (
        f"the MBR's code loads GRUB's core from sector {mbr_says}, and the core begins at sector {core}, "
        "2 KiB into El Torito's BIOS image: xorriso's --grub2-boot-info writes where")
    with image.open("rb") as file:
        file.seek(bios_image * SECTOR + CORE_BLOCK_LIST)
        block_list_says = struct.unpack_from("<Q", file.read(8))[0]
    assert block_list_says == core + 1, (
        f"GRUB's core reads the rest of itself from sector {block_list_says}, not from sector {core + 1} "
        "where it lies: xorriso's --grub2-boot-info writes where")
    modules, prefix = bios_core_contents(image, bios_image)
    missing = [f"{module} ({why})" for module, why in BIOS_MODULES_NEEDED.items() if module not in modules]
    assert not missing, (f"GRUB's BIOS core is built without {'; '.join(missing)}: it cannot load the rest of "
                         "GRUB from the image (bios_modules in common/make-iso.sh)")
    check_prefix(prefix, "BIOS core")


def efi_system_partition(image: Path) -> tuple[Partition, bytes]:
    """What a UEFI firmware needs to boot the image as a disk: partition 2
    of the MBR an EFI system partition, a FAT file system whose
    /EFI/BOOT/BOOTX64.EFI is an x86-64 EFI application. Returns the
    partition and the application."""
    _, partitions = master_boot_record(image)
    esp = partitions[1]
    assert esp.type != UNUSED_PARTITION, \
        "the MBR has no partition 2: a UEFI firmware finds no EFI system partition (-append_partition in make-iso.sh)"
    assert esp.type == EFI_SYSTEM_PARTITION, (
        f"partition 2 has type {esp.type:#04x}, not {EFI_SYSTEM_PARTITION:#04x} (EFI system partition), the "
        "type a UEFI firmware looks for; OVMF boots from any FAT partition, and would not notice")
    assert esp.first_sector * SECTOR + esp.sectors * SECTOR <= image.stat().st_size, \
        "partition 2 reaches past the end of the image"
    copy = subprocess.run(["mcopy", "-n", "-i", f"{image}@@{esp.first_sector * SECTOR}", EFI_APPLICATION, "-"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert copy.returncode == 0, \
        f"no {EFI_APPLICATION} in the EFI system partition: {copy.stderr.decode(errors='replace').strip()}"
    check_x86_64_efi_application(copy.stdout)
    return esp, copy.stdout


def check_x86_64_efi_application(application: bytes) -> None:
    assert application[:2] == b"MZ" and len(application) > 0x40, \
        f"{EFI_APPLICATION} is no PE image (no MZ header): no firmware starts it"
    pe = struct.unpack_from("<I", application, 0x3C)[0]
    assert application[pe:pe + 4] == PE_SIGNATURE, f"{EFI_APPLICATION} is no PE image (no PE signature)"
    machine = struct.unpack_from("<H", application, pe + 4)[0]
    magic, subsystem = struct.unpack_from("<H66xH", application, pe + 24)
    assert machine == X86_64_MACHINE and magic == PE32_PLUS, (
        f"{EFI_APPLICATION} is built for machine {machine:#06x} ({magic:#05x} header), not x86-64 "
        f"({X86_64_MACHINE:#06x}, PE32+): an x86-64 firmware does not start it")
    assert subsystem == EFI_APPLICATION_SUBSYSTEM, \
        f"{EFI_APPLICATION} has PE subsystem {subsystem}, not {EFI_APPLICATION_SUBSYSTEM} (an EFI application)"


def file_on_image(image: Path, path: str, folder: Path) -> Path:
    """A copy, in the folder, of a file of the image's ISO 9660 file system."""
    copy = folder / Path(path).name
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(image), "-extract", path, str(copy)],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True)
    return copy


def grub_config(image: Path, folder: Path) -> str:
    """The grub.cfg GRUB reads on the image, as the image holds it."""
    return file_on_image(image, GRUB_CONFIG, folder).read_text()


def grub_modules(image: bytes, first: int, end: int) -> tuple[set[str], str | None]:
    """The names of the GRUB modules that grub-mkimage built into an image
    between first and end, and its prefix: each behind a header of its type
    and size; type 0 is an ELF object, whose section .modname holds its
    name, type 3 the prefix, a string (GRUB's include/grub/kernel.h)."""
    names, prefix = set(), None
    at = first
    while at < end:
        kind, length = struct.unpack_from("<II", image, at)
        if kind == ELF_MODULE:
            names.add(_module_name(ElfFile(f"GRUB's module {len(names) + 1}", data=image[at + 8:at + length])))
        elif kind == PREFIX_MODULE:
            prefix = image[at + 8:at + length].split(b"\0")[0].decode()
        at += length
    return names, prefix


def efi_application_contents(image: Path) -> tuple[set[str], str | None]:
    """The modules and prefix of the EFI application on the EFI system
    partition. grub-mkimage puts them in the PE section "mods": a
    grub_module_info64 (magic "mimg", then the offset of the first module
    and the size of the whole), then the modules."""
    _, application = efi_system_partition(image)
    pe = struct.unpack_from("<I", application, 0x3C)[0]
    section_count, optional_header_size = struct.unpack_from("<H12xH", application, pe + 6)
    sections = [struct.unpack_from("<8s12xI", application, pe + 24 + optional_header_size + 40 * n)
                for n in range(section_count)]
    mods = next(offset for name, offset in sections if name.rstrip(b"\0") == b"mods")
    magic, first, size = struct.unpack_from("<4s4xQQ", application, mods)
    assert magic == b"mimg", f"{image.name}: no GRUB module list in the EFI application's mods section"
    return grub_modules(application, mods + first, mods + size)


def bios_core_contents(image: Path, bios_image: int) -> tuple[set[str], str | None]:
    """The modules and prefix of GRUB's BIOS core, unpacked from El
    Torito's BIOS image, which begins at sector bios_image. The module list
    is the grub_module_info32 (magic "mimg", the offset of the first module,
    the size of the whole) that ends the unpacked core."""
    decompressor = len(LZMA_DECOMPRESSOR.read_bytes())
    with image.open("rb") as file:
        file.seek((bios_image + CDBOOT_SECTORS) * SECTOR + DISKBOOT_SIZE)
        header = file.read(decompressor)
        packed, unpacked = struct.unpack_from("<II", header, 8)
        stream = file.read(packed)
    core = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=CORE_LZMA).decompress(stream, unpacked)
    for found in re.finditer(b"mimg", core):
        _, first, size = struct.unpack_from("<4sII", core, found.start())
        if found.start() + size == len(core):
            return grub_modules(core, found.start() + first, len(core))
    raise AssertionError(f"{image.name}: no GRUB module list at the end of GRUB's BIOS core")


def _module_name(module: ElfFile) -> str:
    """The contents of a GRUB module's section .modname."""
    section = next((section for section in module.sections if section.name == ".modname"), None)
    assert section is not None, f"{module.path}: a GRUB module without a .modname section"
    return module.data[section.offset:section.offset + section.size].rstrip(b"\0").decode()


def check_efi_application_reads_grub_cfg(image: Path) -> None:
    """GRUB's EFI application stops at its grub> prompt when it does not
    find grub.cfg in its prefix's folder or cannot read the file system
    there, and shows the kernel no screen without efi_gop. With a
    partition-table module it takes the EFI system partition, rather than
    the whole disk, for the device it came from, and finds no grub.cfg
    there (common/make-iso.sh says why it has none)."""
    modules, prefix = efi_application_contents(image)
    missing = [f"{module} ({why})" for module, why in EFI_MODULES_NEEDED.items() if module not in modules]
    assert not missing, (f"GRUB's EFI application is built without {'; '.join(missing)}: under UEFI it can load "
                         "no module from the disc (efi_modules in common/make-iso.sh)")
    tables = sorted(module for module in modules if module.startswith("part_"))
    assert not tables, (f"GRUB's EFI application has {', '.join(tables)} built in: started from the EFI system "
                        "partition of a disk, it then looks for grub.cfg in that FAT partition, and stops at its "
                        "grub> prompt (common/make-iso.sh)")
    check_prefix(prefix, "EFI application")


def check_prefix(prefix: str | None, grub: str) -> None:
    """GRUB looks for grub.cfg, and under a BIOS for its modules, in its
    prefix's folder: elsewhere it stops at its prompt."""
    assert prefix is not None, f"GRUB's {grub} has no prefix (grub-mkimage --prefix): it finds no grub.cfg"
    assert f"{prefix}/grub.cfg" == GRUB_CONFIG, (
        f"GRUB's {grub} looks for grub.cfg in {prefix}, and the image has it at {GRUB_CONFIG}: it stops at "
        "its prompt (grub-mkimage --prefix in common/make-iso.sh)")


def without_el_torito(image: Path, folder: Path) -> Path:
    """A copy of the image whose El Torito boot record no firmware will
    recognise. OVMF looks for El Torito on hard disks as well as CDs, and
    boots the UEFI entry it finds there; the firmware of many a real PC
    reads only a disk's partition table. Without El Torito, OVMF must do
    the same, and start GRUB from the EFI system partition."""
    copy = folder / image.name
    data = bytearray(image.read_bytes())
    identifier = BOOT_RECORD_SECTOR * CD_SECTOR + 7
    assert data[identifier:identifier + len(EL_TORITO_ID)] == EL_TORITO_ID, f"{image.name} has no El Torito boot record"
    data[identifier:identifier + len(EL_TORITO_ID)] = bytes(len(EL_TORITO_ID))
    copy.write_bytes(data)
    return copy


def el_torito_catalog(image: Path) -> list[bytes]:
    """The 32-byte entries of El Torito's boot catalog."""
    with image.open("rb") as file:
        file.seek(BOOT_RECORD_SECTOR * CD_SECTOR)
        record = file.read(CD_SECTOR)
        assert record[7:7 + len(EL_TORITO_ID)] == EL_TORITO_ID, f"{image.name} has no El Torito boot record"
        file.seek(struct.unpack_from("<I", record, 0x47)[0] * CD_SECTOR)
        catalog = file.read(CD_SECTOR)
    return [catalog[offset:offset + 32] for offset in range(0, CD_SECTOR, 32)]


def el_torito_images(image: Path) -> dict[int, int]:
    """The 512-byte sector where each of El Torito's boot images begins, by
    platform: the catalog's validation entry names the platform of the
    default entry that follows it; each later section's header its own."""
    entries = el_torito_catalog(image)
    images = {entries[0][1]: struct.unpack_from("<I", entries[1], 8)[0] * (CD_SECTOR // SECTOR)}
    for header, entry in zip(entries, entries[1:]):
        if header[0] in SECTION_HEADERS:
            images.setdefault(header[1], struct.unpack_from("<I", entry, 8)[0] * (CD_SECTOR // SECTOR))
    return images


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_image_has_an_mbr_and_an_efi_system_partition(build, chapter: str):
    image = build.chapter(chapter).iso()
    check_bios_way_in(image)
    _, partitions = master_boot_record(image)
    iso = partitions[0]
    assert iso.bootable and iso.sectors > 0, \
        "partition 1 (the ISO file system) must be there and marked active: some BIOSes boot nothing else"
    assert iso.type != UNUSED_PARTITION, \
        "partition 1 has type 0x00, which marks an unused entry: firmware and operating systems skip it"
    assert iso.first_sector > 0, \
        "partition 1 starts at sector 0, over the MBR and its partition table, which a partition must leave out " \
        "(-partition_offset 16 starts it at sector 64)"
    esp, _ = efi_system_partition(image)
    efi_entry = el_torito_images(image).get(EFI_PLATFORM)
    assert efi_entry is not None, "El Torito's catalog has no UEFI entry: a UEFI firmware will not boot the CD"
    assert efi_entry == esp.first_sector, \
        "El Torito's UEFI entry and the EFI system partition should be one copy of the same FAT image"


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_el_torito_bios_entry_loads_grubs_cdboot_with_its_boot_info_table(build, chapter: str):
    """Every chapter's tests boot the image as a CD under a BIOS: a mistake
    here makes all of them hang in cdboot.img, each after half a minute."""
    image = build.chapter(chapter).iso()
    validation, default = el_torito_catalog(image)[:2]
    assert validation[1] == X86_PLATFORM and default[0] == BOOTABLE_ENTRY, \
        "El Torito's default entry is no bootable entry for a PC's BIOS (-b in common/make-iso.sh)"
    assert default[1] == NO_EMULATION, \
        f"El Torito's BIOS entry emulates a floppy or disk (media type {default[1]}), not -no-emul-boot"
    sectors, block = struct.unpack_from("<HI", default, 6)
    cdboot = (GRUB_BIOS / "cdboot.img").stat().st_size
    assert sectors * SECTOR >= cdboot, (
        f"El Torito's BIOS entry has the BIOS load {sectors} sectors of {SECTOR} bytes, less than GRUB's "
        f"cdboot.img ({cdboot} bytes): a BIOS may load no more (QEMU's SeaBIOS boots it all the same, so only "
        "this check sees it; -boot-load-size in common/make-iso.sh)")
    with image.open("rb") as file:
        file.seek(block * CD_SECTOR + BOOT_INFO_TABLE)
        volume_descriptor, itself = struct.unpack_from("<II", file.read(8))
    assert (volume_descriptor, itself) == (PRIMARY_VOLUME_DESCRIPTOR_SECTOR, block), (
        f"GRUB's BIOS image holds no boot info table (at byte {BOOT_INFO_TABLE}: {volume_descriptor}, {itself}; "
        f"should be {PRIMARY_VOLUME_DESCRIPTOR_SECTOR}, {block}): cdboot.img does not find the rest of GRUB's core "
        "and the CD boot hangs (-boot-info-table in common/make-iso.sh)")


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_grub_boots_the_kernel_at_once(build, tmp_path: Path, chapter: str):
    timeouts = re.findall(r"^\s*set timeout=(\S*)\s*$", grub_config(build.chapter(chapter).iso(), tmp_path), re.M)
    waits = (f"sets timeout={timeouts[-1]}: GRUB shows its menu for {timeouts[-1]} s" if timeouts
             else "sets no timeout: GRUB shows its menu and waits for a key")
    assert timeouts == ["0"], (f"the image's grub.cfg (from common/grub.cfg.in) {waits} before it boots the kernel, "
                               "in every test and every make run; set timeout=0 boots at once")


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_grub_cfg_has_every_placeholder_filled_in(build, tmp_path: Path, chapter: str):
    left = sorted(set(re.findall(r"@[A-Z_]+@", grub_config(build.chapter(chapter).iso(), tmp_path))))
    assert not left, (f"the image's grub.cfg still holds {', '.join(left)} of common/grub.cfg.in, which "
                      "common/make-iso.sh's sed did not replace: GRUB reads it as it stands")


@pytest.mark.ubsan_changes_nothing
@pytest.mark.chapter("04")
def test_make_iso_passes_a_command_line_as_given_or_refuses_it(build, tmp_path: Path):
    """From chapter 4 on, the harness chooses a test kernel's tests by its
    command line (isos.py). One that reached the kernel changed would run
    other tests than asked, or none, and could pass."""
    kernel = build.chapter("04").elf("unit_tests")
    kept = "tests=a_b,c.d:e/f+g-h tests=9"
    image = tmp_path / "kept.iso"
    # The student's script, within a build's limits.
    made = run_program_within_limits([str(MAKE_ISO), "multiboot2", str(kernel), str(image), "kept", kept],
                                     MAKE_ISO.name, BUILD_LIMITS, writes_into=[tmp_path])
    assert made.returncode == 0, f"make-iso.sh failed for the command line {kept!r}:\n{made.stdout}{made.stderr}"
    given = re.search(r"^\s*multiboot2 /boot/kernel.elf (.*)$", grub_config(image, tmp_path), re.M)
    assert given and given[1] == kept, f"make-iso.sh was given the command line {kept!r}, and grub.cfg says {given}"
    for syntax in ("tests=a;b", "tests=$a", "tests=a&b", "tests=a|b", "tests=a\\b", "tests='a'", "tests=a #b"):
        made = run_program_within_limits([str(MAKE_ISO), "multiboot2", str(kernel), str(tmp_path / "syntax.iso"),
                                          "syntax", syntax], MAKE_ISO.name, BUILD_LIMITS,
                                         writes_into=[tmp_path])
        assert made.returncode != 0, (f"make-iso.sh made an image for the command line {syntax!r}, which GRUB's "
                                      "script language or sed reads as syntax: the kernel gets another one")


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_the_efi_application_has_the_command_grub_cfg_boots_with(build, tmp_path: Path, chapter: str):
    image = build.chapter(chapter).iso()
    loads = re.search(r"^\s*(multiboot2?)\s", grub_config(image, tmp_path), re.M)
    assert loads, "the image's grub.cfg loads the kernel with neither multiboot nor multiboot2"
    command = loads[1]
    holders = dict(line.lstrip("*").split(": ") for line in EFI_COMMAND_LIST.read_text().splitlines())
    module = holders[command]
    modules, _ = efi_application_contents(image)
    assert module in modules, (
        f"grub.cfg loads the kernel with {command}, and GRUB's EFI application has no {module} module built in: "
        f"under UEFI it says \"can't find command `{command}'\" (the disc holds modules for a BIOS only; "
        "efi_modules in common/make-iso.sh)")


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_the_efi_application_reads_grub_cfg(build, chapter: str):
    check_efi_application_reads_grub_cfg(build.chapter(chapter).iso())


@pytest.mark.ubsan_changes_nothing
@pytest.mark.parametrize("chapter", all_chapters())
def test_the_kernel_on_the_image_has_its_symbols_and_no_debug_information(build, tmp_path: Path, chapter: str):
    kernel = ElfFile(file_on_image(build.chapter(chapter).iso(), KERNEL, tmp_path))
    debug = [section.name for section in kernel.sections if section.name.startswith(".debug")]
    assert not debug, (f"the image's kernel carries its debug information ({', '.join(debug)}): GRUB reads every "
                       "section into memory at each boot, under a BIOS slowly; make-iso.sh copies the kernel with "
                       "objcopy --strip-debug (build's kernel.elf keeps it for gdb)")
    assert kernel.symbols, ("the image's kernel has no symbol table: chapter 5's exception reports name the function "
                            "that faulted with it; strip the debug information only (objcopy --strip-debug)")


def _boot_params() -> list:
    params = []
    for chapter in all_chapters():
        for firmware in FIRMWARES:
            for attach in ATTACHMENTS:
                marks = [] if (chapter, firmware, attach) in IN_EVERY_RUN else [pytest.mark.uefi_all]
                if firmware == "uefi":
                    marks.append(pytest.mark.slow)
                else:
                    marks.append(pytest.mark.ubsan_changes_nothing)
                params.append(pytest.param(chapter, firmware, attach, marks=marks,
                                           id=f"{chapter}-{firmware}-{attach}"))
    return params


@pytest.mark.parametrize("chapter, firmware, attach", _boot_params())
def test_image_boots_from_a_disk(boot, build, tmp_path: Path, chapter: str, firmware: str, attach: str):
    kernel = build.chapter(chapter)
    # The way in this firmware takes, read first: a broken one fails here at
    # once, with its cause, instead of in a boot that hangs for half a minute.
    if firmware == "bios":
        check_bios_way_in(kernel.iso())
    else:
        check_efi_application_reads_grub_cfg(kernel.iso())
    image = kernel.iso() if firmware == "bios" else without_el_torito(kernel.iso(), tmp_path)
    machine = boot(image, elf=kernel.elf(), firmware=firmware, attach=attach)
    if chapter == "01-freestanding":
        machine.wait_until_halted_in("halt_forever")
        primes = machine.read_symbol("primes_below_10000")
        assert primes == PRIMES_BELOW_10000, f"primes_below_10000 is {primes}, not {PRIMES_BELOW_10000}"
    elif firmware == "uefi":
        what = re.escape(KERNEL_DEMOS[chapter])
        machine.wait_for_serial(rf"No VGA text mode, so {what} is not shown:\s+{re.escape(NO_TEXT_MODE_REASON)}")
        machine.wait_until_halted_in("halt_forever")
    else:
        machine.wait_until_halted_in("halt_forever")
        machine.screen().expect_contains(SCREEN_LINES[chapter])
