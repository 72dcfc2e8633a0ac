# Sourced by run.sh and gdb.sh. qemu_args FILE prints the QEMU options in
# common/host/FILE one word a line, for mapfile: the same machine the
# harness boots (harness/host.py reads the same files).
qemu_args() {
    grep -v '^[[:space:]]*\(#\|$\)' "$(dirname "${BASH_SOURCE[0]}")/$1" | tr -s ' \t' '\n\n'
}
