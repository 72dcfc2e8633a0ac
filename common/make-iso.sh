#!/usr/bin/env bash
# Wraps a kernel ELF in a GRUB rescue ISO that boots it at once.
# Usage: make-iso.sh BOOT_COMMAND KERNEL.elf OUT.iso TITLE [COMMAND_LINE]
# BOOT_COMMAND is GRUB's loader command: multiboot or multiboot2.
set -euo pipefail
boot_command=$1 kernel=$2 iso=$3 title=$4 command_line=${5:-}
common=$(dirname "$(readlink -f "$0")")

staging=$(mktemp -d "${iso%.iso}.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/boot/grub"
cp "$kernel" "$staging/boot/kernel.elf"
sed -e "s|@TITLE@|$title|" -e "s|@BOOT_COMMAND@|$boot_command|" \
    -e "s|@COMMAND_LINE@|$command_line|" \
    "$common/grub.cfg.in" > "$staging/boot/grub/grub.cfg"

# Only the BIOS image and the modules a boot needs: a smaller disc is
# quicker to build and to boot. grub-mkrescue is chatty; show its output
# only when it fails.
if ! grub-mkrescue --output="$iso" --compress=no --locales= --fonts= --themes= \
        --install-modules="normal multiboot multiboot2 iso9660 biosdisk" \
        "$staging" > "$staging.log" 2>&1; then
    cat "$staging.log" >&2
    rm -f "$staging.log"
    exit 1
fi
rm -f "$staging.log"
