#!/usr/bin/env bash
# Wraps a kernel ELF in a GRUB CD image that boots under BIOS and UEFI.
# Usage: make-iso.sh BOOT_COMMAND KERNEL.elf OUT.iso TITLE [COMMAND_LINE]
# BOOT_COMMAND is GRUB's loader command: multiboot or multiboot2.
#
# grub-mkrescue would do it in one command, but it builds GRUB's boot image
# anew for every disc and puts GRUB's modules on the disc, to be loaded one
# by one at boot. Here the boot image is built once per folder, with the
# few modules a boot needs built in, so each disc takes a tenth of a second
# to make and GRUB starts without reading anything but grub.cfg.
#
# The disc has two El Torito boot entries. A BIOS runs the first, GRUB's
# BIOS image. A UEFI firmware looks for the second, a small FAT file system
# holding GRUB's EFI application at the path every firmware starts from a
# removable disc: /EFI/BOOT/BOOTX64.EFI.
set -euo pipefail
boot_command=$1 kernel=$2 iso=$3 title=$4 command_line=${5:-}
common=$(dirname "$(readlink -f "$0")")

# iso9660 lets GRUB read the disc it booted from; normal reads grub.cfg;
# multiboot and multiboot2 load the kernel. Under BIOS, biosdisk reaches
# the disc. Under UEFI the firmware's own drivers do, and efi_gop lets GRUB
# hand the kernel the firmware's graphics mode as a framebuffer: there is
# no text mode to hand over.
modules="iso9660 normal multiboot multiboot2"
bios_modules="biosdisk $modules"
efi_modules="efi_gop $modules"

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
make_once "$folder/grub-bios-cd.img" make_bios_image
make_once "$folder/grub-efi-cd.img" make_efi_image

staging=$(mktemp -d "${iso%.iso}.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/boot/grub"
cp "$folder/grub-bios-cd.img" "$staging/boot/grub/bios-cd.img"
cp "$folder/grub-efi-cd.img" "$staging/boot/grub/efi-cd.img"
cp "$kernel" "$staging/boot/kernel.elf"
sed -e "s|@TITLE@|$title|" -e "s|@BOOT_COMMAND@|$boot_command|" \
    -e "s|@COMMAND_LINE@|$command_line|" \
    "$common/grub.cfg.in" > "$staging/boot/grub/grub.cfg"

# The BIOS loads the 2 KiB sectors named by -boot-load-size (4 x 512 bytes)
# and runs them; -boot-info-table patches in where the rest of the image is.
# -eltorito-alt-boot starts the second entry; -e marks it as a UEFI one.
xorriso -as mkisofs -quiet -rational-rock \
    -b boot/grub/bios-cd.img -no-emul-boot -boot-load-size 4 -boot-info-table \
    -eltorito-alt-boot -e boot/grub/efi-cd.img -no-emul-boot \
    -o "$iso" "$staging" 2> "$staging.log" || { cat "$staging.log" >&2; rm -f "$staging.log"; exit 1; }
rm -f "$staging.log"
