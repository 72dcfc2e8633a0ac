#!/usr/bin/env bash
# Checks that the tools a make target needs are installed. As root or in CI
# (CI=true) it installs the missing Debian packages; otherwise it names them
# and the command that installs them. What each purpose needs, and the
# package that brings it, is in common/host/requirements.tsv (which the
# harness reads too).
# Usage: check-deps.sh [test] [book] [uefi]
#   (nothing)  building and booting: make, make run, make gdb
#   test       also what the test suite runs
#   book       also what renders the book
#   uefi       also the UEFI firmware for QEMU: make run FIRMWARE=uefi
set -euo pipefail
requirements="$(dirname "$0")/host/requirements.tsv"

purposes=" build "
for purpose in "$@"; do
    case $purpose in
        test|book|uefi) purposes+="$purpose " ;;
        *) echo "check-deps.sh: unknown purpose '$purpose'" >&2; exit 2 ;;
    esac
done

missing=()
while read -r purpose kind name package; do
    case $purpose in ''|'#'*) continue ;; esac
    [[ $purposes == *" $purpose "* ]] || continue
    case $kind in
        command) command -v "$name" > /dev/null && continue ;;
        file) [ -f "$name" ] && continue ;;
        # The harness runs under Debian's Python, which has these as packages.
        python) /usr/bin/python3 -c "import $name" 2> /dev/null && continue ;;
        *) echo "check-deps.sh: $requirements: unknown kind '$kind'" >&2; exit 2 ;;
    esac
    missing+=("$package")
done < "$requirements"

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
