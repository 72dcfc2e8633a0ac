#!/usr/bin/env bash
# Checks that the tools a make target needs are installed. As root or in CI
# (CI=true) it installs the missing packages with apt-get, one at a time,
# so that a package this system does not have is reported and the others
# are installed all the same; otherwise it names them and the command that
# installs them. What each purpose needs, and the package that brings it,
# is in common/host/requirements.tsv (which the harness reads too).
# Usage: check-deps.sh PURPOSE...
#   build  building and booting: make, make build, make run
#   uefi   the UEFI firmware for QEMU: make run FIRMWARE=uefi
#   gdb    the debugger: make gdb
#   book   rendering the book, and the browser its test opens: make book
#   test   what the test suite runs besides the four above: make test
set -euo pipefail
requirements="$(dirname "$0")/host/requirements.tsv"

if [ $# -eq 0 ]; then
    echo "usage: check-deps.sh build|uefi|gdb|book|test..." >&2
    exit 2
fi
for purpose in "$@"; do
    case $purpose in
        build|uefi|gdb|book|test) ;;
        *) echo "check-deps.sh: unknown purpose '$purpose'" >&2; exit 2 ;;
    esac
done
purposes=" $* "

# Whether one of NAMES (alternatives a|b|c, as distributions name the same
# tool differently) is installed, as a KIND: command, file or python module.
installed() {  # KIND NAMES
    local kind=$1 name names
    IFS='|' read -ra names <<< "$2"
    for name in "${names[@]}"; do
        case $kind in
            command) command -v "$name" > /dev/null && return 0 ;;
            file) [ -f "$name" ] && return 0 ;;
            # The harness runs under Debian's Python, which has these as packages.
            python) /usr/bin/python3 -c "import $name" 2> /dev/null && return 0 ;;
            *) echo "check-deps.sh: $requirements: unknown kind '$kind'" >&2; exit 2 ;;
        esac
    done
    return 1
}

# Each missing requirement as its package alternatives, a|b|c.
missing=()
while read -r purpose kind names packages; do
    case $purpose in ''|'#'*) continue ;; esac
    [[ $purposes == *" $purpose "* ]] || continue
    installed "$kind" "$names" || missing+=("$packages")
done < "$requirements"

[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if ! command -v apt-get > /dev/null; then
    echo "missing: ${missing[*]//|/ or } (Debian package names; see README.md for other systems)" >&2
    exit 1
fi

install=false
if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = true ]; then
    install=true
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # Another apt-get (a second make, say) may hold dpkg's lock for a while.
    apt_get() { DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 -qq "$@"; }
    # Without fresh lists (offline, say) the ones there are may still do.
    apt_get update || echo "apt-get update failed; going on with the package lists there are" >&2
fi

# The first of the alternatives a|b|c that apt can install here.
installable() {  # ALTERNATIVES
    local package packages
    IFS='|' read -ra packages <<< "$1"
    for package in "${packages[@]}"; do
        # Not `| grep -q`: grep would stop reading at the first match, and
        # under pipefail apt-cache's SIGPIPE would make the answer "no".
        if [[ $(apt-cache policy "$package" 2> /dev/null) =~ Candidate:\ [^\(] ]]; then
            echo "$package"
            return 0
        fi
    done
    return 1
}

packages=() unknown=()
for alternatives in "${missing[@]}"; do
    if package=$(installable "$alternatives"); then
        packages+=("$package")
    else
        unknown+=("${alternatives//|/ or }")
    fi
done
[ ${#packages[@]} -eq 0 ] || mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

failed=()
if $install; then
    for package in "${packages[@]}"; do
        echo "Installing $package"
        apt_get install -y --no-install-recommends "$package" > /dev/null || failed+=("$package")
    done
elif [ ${#packages[@]} -gt 0 ]; then
    echo "missing: ${packages[*]}; install with: sudo apt-get install ${packages[*]}" >&2
fi

for alternatives in "${unknown[@]}"; do
    echo "missing: $alternatives; apt knows no such package here (after apt-get update? README.md says more)" >&2
done
for package in "${failed[@]}"; do
    echo "could not install $package (apt-get's message above)" >&2
done
if $install && [ ${#unknown[@]} -eq 0 ] && [ ${#failed[@]} -eq 0 ]; then
    exit 0
fi
exit 1
