#!/usr/bin/env bash
# Wraps a kernel ELF in a GRUB image that boots under BIOS and UEFI, from a
# CD or written raw to a disk or USB stick (a "hybrid" image).
# Usage: make-iso.sh BOOT_COMMAND KERNEL.elf OUT.iso TITLE [COMMAND_LINE]
# BOOT_COMMAND is GRUB's loader command: multiboot or multiboot2.
#
# grub-mkrescue would do it in one command, but it builds GRUB's boot image
# anew for every disc and puts all of GRUB's modules on it. Here the boot
# images are built once per folder, and a disc carries only the modules its
# boot loads, so that each disc takes a tenth of a second to make.
#
# One image holds four ways in, the same as grub-mkrescue's:
#   CD, BIOS     El Torito entry 1: GRUB's BIOS image (cdboot.img + core).
#   CD, UEFI     El Torito entry 2: a small FAT file system holding GRUB's
#                EFI application at /EFI/BOOT/BOOTX64.EFI, the path every
#                firmware starts from removable media.
#   disk, BIOS   sector 0 is an MBR: GRUB's boot_hybrid.img, which loads
#                the core of the BIOS image above from the ISO's sectors.
#   disk, UEFI   partition 2 of that MBR is the same FAT file system, typed
#                0xef (EFI system partition), where a UEFI firmware finds
#                the EFI application.
set -euo pipefail
boot_command=$1 kernel=$2 iso=$3 title=$4 command_line=${5:-}
common=$(dirname "$(readlink -f "$0")")
grub_bios=/usr/lib/grub/i386-pc

# The command line goes into grub.cfg as it is. GRUB's script language
# reads $ ; # quotes \ { } | & < > as syntax, and sed's replacement below
# reads & \ and |: with any of them the kernel would get another command
# line than asked (a test kernel would run other tests), so it is refused.
if [[ $command_line == *[^A-Za-z0-9\ _=,.:/+-]* ]]; then
    echo "make-iso.sh: the command line '$command_line' holds a character that GRUB or sed reads as syntax;" \
        "use letters, digits, spaces and _=,.:/+-" >&2
    exit 1
fi

# iso9660 lets GRUB read the image it booted from; normal reads grub.cfg;
# multiboot and multiboot2 load the kernel. Under BIOS, biosdisk reads
# the CD or disk. Under UEFI the firmware's own drivers do; efi_gop lets GRUB
# hand the kernel the firmware's graphics mode as a framebuffer: there is
# no text mode to hand over.
#
# No partition-table module (part_msdos) is built in, on purpose. A UEFI
# firmware booting the image as a disk starts GRUB from partition 2, a FAT
# file system with nothing but GRUB in it; a GRUB that cannot read the
# partition table takes the whole disk as the device it came from, and
# finds /boot/grub/grub.cfg in the ISO 9660 file system that starts at the
# disk's first sector. (With part_msdos, GRUB stops at its grub> prompt:
# test_images.py boots such a disk under OVMF.)
#
# GRUB's BIOS core is compressed (LZMA, always), and unpacking it is slow
# under QEMU's emulation: with normal, multiboot and multiboot2 built in, a
# kernel that exits at once took 0.67 s to boot, and 0.47 s without them.
# So the BIOS core holds only what finds /boot/grub, and GRUB loads the
# rest from the disc, where modules lie uncompressed: normal, then the
# boot command's module, which command.lst names. The UEFI application is
# not compressed and keeps them built in.
modules="iso9660 normal multiboot multiboot2"
bios_modules="biosdisk iso9660"
efi_modules="efi_gop $modules"

# The files a BIOS boot loads from the disc: the modules normal and the boot
# command's, with every module they need by GRUB's list of dependencies,
# and command.lst, which tells normal which module holds which command.
files_loaded_from_disc() {
    echo "$grub_bios/command.lst"
    awk -F': *' -v wanted="normal $boot_command" -v directory="$grub_bios" '
        { needs[$1] = $2 }
        END {
            count = split(wanted, queue, " ")
            for (i = 1; i <= count; i++) {
                module = queue[i]
                if (module in seen) continue
                seen[module] = 1
                print directory "/" module ".mod"
                needed = split(needs[module], more, " ")
                for (j = 1; j <= needed; j++) queue[++count] = more[j]
            }
        }' "$grub_bios/moddep.lst"
}

# The boot images are named after this script, so that a change to how
# they are made makes new ones instead of reusing the old.
script_hash=$(sha256sum "$0" | cut -c1-12)

# Each boot image is made once per folder, under a name of its own and
# renamed when complete, so that ISOs made in parallel never see half of it.
make_once() {
    local image=$1 partial
    shift
    [ -f "$image" ] && return
    partial=$(mktemp "$image.XXXXXX")
    "$@" "$partial"
    mv "$partial" "$image"
}

make_bios_image() {
    grub-mkimage --format=i386-pc-eltorito --prefix=/boot/grub --output="$1" $bios_modules
}

make_efi_image() {
    local application
    application=$(mktemp "$1.efi.XXXXXX")
    grub-mkimage --format=x86_64-efi --prefix=/boot/grub --output="$application" $efi_modules
    # A FAT image just big enough for the application: its size rounded up
    # to whole 64 KiB, plus 64 KiB for the file system's own tables.
    local size=$(( ($(stat -c %s "$application") / 65536 + 2) * 64 ))
    truncate -s "${size}K" "$1"
    mformat -i "$1" ::
    mmd -i "$1" ::/EFI ::/EFI/BOOT
    mcopy -i "$1" "$application" ::/EFI/BOOT/BOOTX64.EFI
    rm -f "$application"
}

folder=$(dirname "$iso")
bios_image=$folder/grub-bios-$script_hash.img
efi_image=$folder/grub-efi-$script_hash.img
make_once "$bios_image" make_bios_image
make_once "$efi_image" make_efi_image
# Those an earlier make-iso.sh made are of no more use. (A half-made one
# ends in mktemp's suffix, not in .img, and is left alone.) Every disc of the
# folder being made in parallel removes them, so each may find one gone.
for image in "$folder"/grub-*.img; do
    [[ $image == */grub-*-$script_hash.img ]] || rm -f "$image"
done

staging=$(mktemp -d "${iso%.iso}.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/boot/grub"
cp "$bios_image" "$staging/boot/grub/bios.img"
mkdir "$staging/boot/grub/i386-pc"
cp $(files_loaded_from_disc) "$staging/boot/grub/i386-pc/"
# Without its debug information: GRUB's multiboot commands load every
# section of the file into memory, the debug sections too, and under BIOS
# GRUB reads them through the firmware's disk calls: a test kernel's
# 140-210 KB of them took 30-40 ms of its 0.5 s boot in QEMU. The symbol table stays: chapter 5 names functions
# with it. A debugger reads the kernel.elf beside the image, which keeps all.
objcopy --strip-debug "$kernel" "$staging/boot/kernel.elf"
sed -e "s|@TITLE@|$title|" -e "s|@BOOT_COMMAND@|$boot_command|" \
    -e "s|@COMMAND_LINE@|$command_line|" \
    "$common/grub.cfg.in" > "$staging/boot/grub/grub.cfg"

# A CD's BIOS loads the 2 KiB sectors named by -boot-load-size (4 x 512
# bytes) and runs them; -boot-info-table patches in where the rest of the
# image is. --grub2-mbr writes boot_hybrid.img as the MBR, and
# --grub2-boot-info patches into it and into the core where the core lies.
# -partition_offset 16 starts partition 1 after the ISO's first 32 KiB,
# the system area where the MBR lives, with a copy of the ISO's superblock,
# so that the partition can be mounted on its own. --grub2-mbr also marks
# it active (xorriso does for a partition of a type other than 0xee and
# 0xef), without which some BIOSes will not boot a USB stick.
# -append_partition adds the EFI image after the ISO as partition 2, and
# -e points El Torito's UEFI entry at that partition: one copy serves both.
xorriso -as mkisofs -quiet -rational-rock \
    -b boot/grub/bios.img -no-emul-boot -boot-load-size 4 -boot-info-table \
    --grub2-boot-info --grub2-mbr "$grub_bios/boot_hybrid.img" \
    -partition_offset 16 \
    -append_partition 2 0xef "$efi_image" \
    -eltorito-alt-boot -e --interval:appended_partition_2:all:: -no-emul-boot \
    -o "$iso" "$staging" 2> "$staging.log" || { cat "$staging.log" >&2; rm -f "$staging.log"; exit 1; }
rm -f "$staging.log"
