# Sourced by run.sh and gdb.sh: the QEMU they start. qemu_args FILE prints
# the QEMU options in common/host/FILE one word a line, for mapfile: the
# same machine the harness boots (harness/host.py reads the same files).
qemu_args() {
    grep -v '^[[:space:]]*\(#\|$\)' "$(dirname "${BASH_SOURCE[0]}")/$1" | tr -s ' \t' '\n\n'
}

# The command that starts QEMU, to which the options are added: one that
# writes no file past SERIAL_LOG_LIMIT bytes. A kernel that prints without
# end (a panic that loops, say) writes its serial log at some 300 KB a
# second under TCG for as long as QEMU runs: a gigabyte an hour of make run
# left open. Past the limit, the write fails and QEMU's serial port drops
# what the kernel sends from then on; QEMU runs on, for its emulated CPU's
# thread, which writes the serial port, blocks the SIGXFSZ that would kill
# it. QEMU's own logs stay far below the limit. (An array, not a function:
# bash reports a QEMU killed by a signal where the command's caller sends
# its standard error, run.sh's witness of a kill -9.)
SERIAL_LOG_LIMIT=${SERIAL_LOG_LIMIT:-$((64 * 1024 * 1024))}
qemu_within_file_limit=(prlimit --fsize="$SERIAL_LOG_LIMIT" qemu-system-x86_64)

# make run and make gdb install QEMU first (check-deps.sh); run.sh or
# gdb.sh started by hand may find none, and prlimit's status for a command
# it cannot find, 127, is also QEMU's for a kernel that wrote 0x3f to
# isa-debug-exit: the kernel would be blamed for a missing package.
if ! command -v qemu-system-x86_64 > /dev/null; then
    echo "$(basename "$0"): qemu-system-x86_64 is not installed: make run and make gdb install it" \
         "(or: apt-get install qemu-system-x86)" >&2
    exit 127
fi
