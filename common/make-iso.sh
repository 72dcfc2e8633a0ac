#!/usr/bin/env bash
# Wraps a kernel ELF in a bootable GRUB CD image (El Torito, BIOS).
# Usage: make-iso.sh BOOT_COMMAND KERNEL.elf OUT.iso TITLE [COMMAND_LINE]
# BOOT_COMMAND is GRUB's loader command: multiboot or multiboot2.
#
# grub-mkrescue would do it in one command, but it builds GRUB's boot image
# anew for every disc and puts GRUB's modules on the disc, to be loaded one
# by one at boot. Here the boot image is built once per folder, with the
# few modules a boot needs built in, so each disc takes a tenth of a second
# to make and GRUB starts without reading anything but grub.cfg.
set -euo pipefail
boot_command=$1 kernel=$2 iso=$3 title=$4 command_line=${5:-}
common=$(dirname "$(readlink -f "$0")")

# biosdisk and iso9660 let GRUB read the disc it booted from; normal reads
# grub.cfg; multiboot and multiboot2 load the kernel.
modules="biosdisk iso9660 normal multiboot multiboot2"
boot_image="$(dirname "$iso")/grub-bios-cd.img"
if [ ! -f "$boot_image" ]; then
    # Made under a name of its own and renamed when complete, so that ISOs
    # made in parallel never see half of it.
    partial=$(mktemp "$boot_image.XXXXXX")
    grub-mkimage --format=i386-pc-eltorito --prefix=/boot/grub --output="$partial" $modules
    mv "$partial" "$boot_image"
fi

staging=$(mktemp -d "${iso%.iso}.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/boot/grub"
cp "$boot_image" "$staging/boot/grub/bios-cd.img"
cp "$kernel" "$staging/boot/kernel.elf"
sed -e "s|@TITLE@|$title|" -e "s|@BOOT_COMMAND@|$boot_command|" \
    -e "s|@COMMAND_LINE@|$command_line|" \
    "$common/grub.cfg.in" > "$staging/boot/grub/grub.cfg"

# The BIOS loads the 2 KiB sectors named by -boot-load-size (4 x 512 bytes)
# and runs them; -boot-info-table patches in where the rest of the image is.
xorriso -as mkisofs -quiet -rational-rock \
    -b boot/grub/bios-cd.img -no-emul-boot -boot-load-size 4 -boot-info-table \
    -o "$iso" "$staging" 2> "$staging.log" || { cat "$staging.log" >&2; rm -f "$staging.log"; exit 1; }
rm -f "$staging.log"
