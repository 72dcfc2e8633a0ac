# The compiler and its flags. Every chapter is built with the same ones, so
# they live here rather than in a chapter.
#
# clang is the default: with --target it is a real cross compiler that emits
# the same code on Linux and macOS. `make CXX=g++` builds with the host GCC
# instead, once every host default (PIE, stack protector, CET) is turned off.

ifeq ($(origin CXX),default)
CXX := clang++
endif

ifneq ($(findstring clang,$(CXX)),)
TOOLCHAIN := clang
else
TOOLCHAIN := gcc
endif

# ARCH is set by the chapter: i386 for chapter 1, which runs in 32-bit
# protected mode, and x86_64 from chapter 2 on.
ifeq ($(ARCH),i386)
NASM_FORMAT := elf32
CLANG_TARGET := i686-unknown-none-elf
GCC_MACHINE := -m32
LD_EMULATION := elf_i386
else ifeq ($(ARCH),x86_64)
NASM_FORMAT := elf64
CLANG_TARGET := x86_64-unknown-none-elf
GCC_MACHINE := -m64
LD_EMULATION := elf_x86_64
else
$(error ARCH must be i386 or x86_64, not '$(ARCH)')
endif

# Stack clash protection: a function whose frame is larger than a page
# touches each page of it, from the top down, as it makes room, so that no
# frame can step over an unmapped guard page below the stack (chapter 6)
# and write to whatever lies below it. clang's driver passes the flag on
# for Linux and FreeBSD targets only and ignores it, with a warning, for a
# bare-metal one; the compiler proper (-cc1, reached through -Xclang)
# implements it for every x86 target.
ifeq ($(TOOLCHAIN),clang)
LD := ld.lld
TARGET_FLAGS := --target=$(CLANG_TARGET)
STACK_CLASH_PROTECTION := -Xclang -fstack-clash-protection
else
LD := ld
TARGET_FLAGS := $(GCC_MACHINE) -fno-tree-loop-distribute-patterns
LDFLAGS_TOOLCHAIN := -m $(LD_EMULATION)
STACK_CLASH_PROTECTION := -fstack-clash-protection
endif

# No hosted environment: no libc, no libstdc++, no exceptions, no RTTI, no
# thread-safe statics (they call into a runtime we do not have).
# -mno-red-zone: an interrupt pushes its frame right below RSP, where the
#   red zone would let a leaf function keep data. Nothing goes wrong until an
#   interrupt comes at that moment, so harness/test_toolchains.py reads every
#   kernel's code for data kept below RSP.
# -mgeneral-regs-only: nobody saves SSE/x87 state on interrupts, so the
#   compiler must not use those registers.
CXXFLAGS := $(TARGET_FLAGS) -std=c++20 -O2 -g \
	-ffreestanding -nostdlib -fno-exceptions -fno-rtti -fno-threadsafe-statics \
	-fno-pic -fno-pie -fno-stack-protector -fcf-protection=none \
	-fno-asynchronous-unwind-tables -fno-unwind-tables \
	-mno-red-zone -mgeneral-regs-only \
	-Wall -Wextra -Werror \
	-MMD -MP
# A frame larger than a page touches each of its pages (STACK_CLASH_PROTECTION
# above says why).
CXXFLAGS += $(STACK_CLASH_PROTECTION)

# UBSAN=1 adds the undefined behaviour sanitizer, whose runtime is
# common/ubsan.cpp (kernel.mk adds it). With -fno-sanitize-recover=all the
# compiler calls the handlers that must not return (__ubsan_handle_*_abort):
# a report ends in the chapter's panic(). Nothing needs turning off for
# -fno-rtti: the checks that need RTTI (vptr, and clang's function) are not
# in clang's group for a bare-metal target, and GCC leaves vptr out without
# RTTI.
ifeq ($(UBSAN),1)
CXXFLAGS += -fsanitize=undefined -fno-sanitize-recover=all
endif

NASMFLAGS := -f $(NASM_FORMAT) -g -F dwarf -Werror

LDFLAGS := $(LDFLAGS_TOOLCHAIN) -nostdlib -static -z noexecstack \
	-z max-page-size=0x1000 --build-id=none
