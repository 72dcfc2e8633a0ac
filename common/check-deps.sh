#!/usr/bin/env bash
# Checks that the tools a make target needs are installed. As root or in CI
# (CI=true) it installs the missing Debian packages; otherwise it names them
# and the command that installs them.
# Usage: check-deps.sh [test] [book] [uefi]
#   (nothing)  building and booting: make, make run, make gdb (which
#              checks for gdb itself)
#   test       also what the test suite runs: pytest, g++ (the second
#              compiler every chapter is built with), pandoc, chromium, gdb
#              (make gdb is tried) and the UEFI firmware
#   book       also what renders the book: pandoc
#   uefi       also the UEFI firmware for QEMU: make run FIRMWARE=uefi
set -euo pipefail

# A tool, and the Debian package it comes in.
tools=(
    "nasm nasm"
    "clang++ clang"
    "ld.lld lld"
    "qemu-system-x86_64 qemu-system-x86"
    "grub-mkimage grub-common"
    "grub-file grub-common"
    "xorriso xorriso"
    "mformat mtools"
    "mcopy mtools"
)
# Files a package brings that no command stands for.
files=(
    # GRUB's BIOS and UEFI platform files come apart from grub-mkimage:
    # without them it cannot make our ISOs' boot images (common/make-iso.sh).
    "/usr/lib/grub/i386-pc/cdboot.img grub-pc-bin"
    "/usr/lib/grub/x86_64-efi/multiboot2.mod grub-efi-amd64-bin"
)
# QEMU's UEFI firmware, which the tests boot too.
ovmf="/usr/share/OVMF/OVMF_CODE_4M.fd ovmf"
python_modules=()
for purpose in "$@"; do
    case $purpose in
        test)
            tools+=("g++ g++" "pandoc pandoc" "chromium chromium" "gdb gdb")
            files+=("$ovmf")
            python_modules+=("pytest python3-pytest" "pexpect python3-pexpect"
                             "xdist python3-pytest-xdist") ;;
        book)
            tools+=("pandoc pandoc") ;;
        uefi)
            files+=("$ovmf") ;;
        *)
            echo "check-deps.sh: unknown purpose '$purpose'" >&2; exit 2 ;;
    esac
done

missing=()
for entry in "${tools[@]}"; do
    read -r tool package <<< "$entry"
    command -v "$tool" > /dev/null || missing+=("$package")
done

for entry in "${files[@]}"; do
    read -r file package <<< "$entry"
    [ -f "$file" ] || missing+=("$package")
done

# The harness runs under Debian's Python, which has these as packages.
for entry in "${python_modules[@]}"; do
    read -r module package <<< "$entry"
    /usr/bin/python3 -c "import $module" 2> /dev/null || missing+=("$package")
done

[ ${#missing[@]} -eq 0 ] && exit 0

# Each package once, in a stable order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if ! command -v apt-get > /dev/null; then
    echo "missing: ${missing[*]} (Debian package names; see README.md for other systems)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = true ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "Installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
    exit 0
fi

echo "missing: ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
exit 1
