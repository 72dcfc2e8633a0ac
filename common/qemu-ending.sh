#!/usr/bin/env bash
# Says how QEMU ended, for make run (run.sh) and make gdb (gdb.sh): the
# kernel triple-faulted, reset the machine or turned it off, wrote to
# isa-debug-exit, or QEMU was quit, reset from its monitor, or stopped by a
# signal from outside.
#
# -no-reboot (common/host/qemu-machine.args) ends QEMU at a triple fault
# and at a reset the kernel asks for, with the status 0 of a quit, and gdb
# says "exited normally" of all three: only QEMU's log tells them apart.
# What QEMU 7.2 logs with the options below, measured:
#   a triple fault:  "Triple fault" (cpu_reset), then the machine goes from
#                    running to shutdown (runstate_set);
#   a reset the kernel asks for (keyboard controller, port 0x92 or 0xcf9):
#                    only the change to shutdown: -no-reboot stops the
#                    machine before the reset, so no "CPU Reset" either;
#   the monitor's system_reset: the same, after the command typed
#                    (handle_hmp_command, which logs every monitor command);
#   a quit, an ACPI power-off: a shutdown request with its reason first
#                    (qemu_system_shutdown_request: 2 the monitor's quit,
#                    5 a closed window, 6 the kernel's power-off);
#   a signal:        the change to shutdown alone, as a reset, so another
#                    witness is needed. QEMU says "terminating on signal N
#                    from pid P (NAME)" on its standard error (in its log
#                    once it is a daemon, as in make gdb; run.sh adds it to
#                    the log), or "terminating on signal N" alone when the
#                    terminal sent it, at a Ctrl-C, which the caller sees
#                    too. A signal QEMU cannot catch (SIGKILL, or a crash of
#                    its own) leaves nothing: only the caller can tell.
# cpu_reset also dumps the registers at every CPU reset, the power-on's
# included: a few KiB.
#
# Usage:
#   qemu-ending.sh options LOG
#       The QEMU options that log the above into LOG, one word a line.
#   qemu-ending.sh say BUILD_DIRECTORY LOG [STATUS]
#       Says how QEMU ended, given STATUS: its exit status, `interrupted`
#       when the terminal's Ctrl-C ended it, or `killed-N` when signal N
#       killed it. BUILD_DIRECTORY (build/<chapter>, or
#       build/ubsan/<chapter>) names the chapter and the build in the
#       hints. Exits with 0 when it said how, otherwise with STATUS (QEMU's
#       own error, which QEMU has printed itself). Without STATUS (make gdb,
#       while gdb still runs on), it says only what the kernel did (a
#       triple fault, a reset or a power-off) or that a signal from outside
#       stopped QEMU.
set -euo pipefail

if [ "${1:-}" = options ] && [ $# -eq 2 ]; then
    printf '%s\n' -d cpu_reset -D "$2" -trace runstate_set -trace qemu_system_shutdown_request \
           -trace handle_hmp_command
    exit 0
fi
if [ "${1:-}" != say ] || [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: qemu-ending.sh options LOG | say BUILD_DIRECTORY LOG [STATUS]" >&2
    exit 2
fi
build=$2 log=$3 status=${4:-}

logged() {
    grep -q -- "$1" "$log"
}

# The commands that look closer, for this build: make's UBSAN=1 builds into
# build/ubsan/, whose tests are pytest's --ubsan.
chapter=NN
if [[ $(basename "$build") =~ ^([0-9][0-9])- ]]; then
    chapter=${BASH_REMATCH[1]}
fi
pytest_options="--chapter $chapter" make_options="CH=$chapter"
if [ "$(basename "$(dirname "$build")")" = ubsan ]; then
    pytest_options+=" --ubsan" make_options+=" UBSAN=1"
fi

# Each line within 80 columns.
if logged '^Triple fault'; then
    echo "QEMU stopped: the kernel triple-faulted, and the CPU reset itself."
    echo "  Which exceptions: /usr/bin/python3 -m pytest harness $pytest_options"
    if [ -n "$status" ]; then
        echo "  Step up to them:  make gdb $make_options"
    else
        echo "  Step up to them:  quit, then make gdb $make_options and break earlier."
    fi
    exit 0
fi
if logged 'qemu_system_shutdown_request reason=6$'; then
    echo "QEMU stopped: the kernel turned the machine off (ACPI)."
    exit 0
fi
# Another program's signal: `kill PID`, `pkill qemu-system-x86_64`.
outside='terminating on signal \([0-9]*\) from pid \([0-9]*\) (\(.*\))$'
if logged "$outside"; then
    IFS=' ' read -r signal pid name < <(sed -n "s/.*$outside/\1 \2 \3/p" "$log" | head -n 1)
    echo "QEMU stopped: signal $signal (SIG$(kill -l "$signal")) came from outside, not from the kernel."
    echo "  Sent by process $pid ($name)."
    exit 0
fi
if [[ $status == killed-* ]]; then
    signal=${status#killed-}
    echo "QEMU stopped: signal $signal (SIG$(kill -l "$signal")) killed it, not the kernel."
    echo "  One QEMU cannot catch: kill -9, the out-of-memory killer, Ctrl-\\, a crash."
    exit 0
fi
if logged 'handle_hmp_command .*cmdline: *system_reset'; then
    echo "QEMU stopped: system_reset, typed in QEMU's monitor, reset the machine."
    echo "  -no-reboot ends QEMU at every reset; the kernel had no part in this one."
    exit 0
fi
# The machine stopped, and nobody asked it to: neither a quit nor a signal.
if [ "$status" != interrupted ] && [ "${status:-0}" -eq 0 ] && logged 'new_state [0-9]* (shutdown)' \
   && ! logged 'qemu_system_shutdown_request'; then
    echo "QEMU stopped: the kernel reset the machine, with no triple fault."
    echo "  A reset it asked for: keyboard controller (port 0x64), port 0x92 or 0xcf9."
    exit 0
fi
if [ -z "$status" ]; then
    exit 0
fi
if [ "$status" = interrupted ] || [ "$status" -eq 0 ]; then
    echo "QEMU has quit, with no triple fault."
    exit 0
fi
# isa-debug-exit turns a value v written to port 0xf4 into the status
# (v << 1) | 1. A status of 1 (v = 0) is QEMU's own error too, which it has
# printed itself: one that came before the machine ever ran.
if [ $((status & 1)) -eq 1 ] && { [ "$status" -gt 1 ] || logged 'new_state [0-9]* (running)'; }; then
    printf 'QEMU stopped: the kernel wrote %#x to port 0xf4 (isa-debug-exit), which ends QEMU with status %d.\n' \
           $((status >> 1)) "$status"
    exit 0
fi
exit "$status"
