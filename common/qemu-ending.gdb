# gdb's half of make gdb's line on how QEMU ended (gdb.sh loads it). When
# the guest ends, gdb says only "[Inferior 1 (process 1) exited normally]",
# whatever ended it; qemu-ending.sh says what did, from QEMU's log, before
# gdb's prompt comes back.
#
# A hook on every stop, of which only the end sets $_exitcode: plain gdb
# commands, which a gdb built without Python runs too (gdb's Python events
# would be the other way). It takes the place of a hook-stop of the
# student's own ~/.gdbinit, for make gdb's session only.
# qemu-ending.sh's arguments come from the environment, which gdb.sh sets:
# the shell that gdb's `shell` starts expands them, whatever characters
# the paths hold.
define hook-stop
  if !$_isvoid($_exitcode)
    shell "$QEMU_ENDING" say "$QEMU_ENDING_BUILD" "$QEMU_ENDING_LOG"
  end
end
