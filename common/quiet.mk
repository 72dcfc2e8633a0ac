# Quiet build output, as the Linux kernel's build prints it: one short line
# per step instead of the whole command, which for the compiler runs to a
# thousand characters and more.
#
#     CXX     03-vga-text/vga.o
#     LD      03-vga-text/kernel.elf
#
# make V=1 prints the full commands instead. Errors and warnings are never
# shortened: they are the tools' own output, which this leaves alone.
#
# A recipe line shows its step with $(call step,NAME,FILE) and runs its
# command behind $(Q):
#
#     $(call step,CXX,$@)
#     $(Q)$(CXX) $(CXXFLAGS) -c $< -o $@

ifeq ($(V),1)
Q :=
step :=
else
Q := @
# The file as the reader knows it: below build/, without the obj/ folder
# that only sorts objects from images (build/ubsan/... stays ubsan/...).
step = @printf '  %-7s %s\n' '$(1)' '$(patsubst $(abspath $(ROOT)/build)/%,%,$(subst /obj/,/,$(2)))'
endif
