# Build rules that every chapter's Makefile includes after it has said what
# the chapter is made of:
#
#   ARCH           i386 or x86_64
#   BOOT_COMMAND   the GRUB command that loads it: multiboot or multiboot2
#   SOURCES        .cpp and .asm files shared by every kernel of the chapter
#   KERNEL_SOURCES files only the kernel that `make run` boots has (main.cpp)
#   TEST_KERNELS   names of test kernels (chapter 4 on); test kernel NAME is
#                  SOURCES plus NAME_SOURCES
#   UBSAN_TEST_KERNELS  test kernels built only with UBSAN=1
#
# Output goes to build/<chapter>/: kernel.elf and kernel.iso, and NAME.elf
# and NAME.iso for each test kernel. Nothing is written into the source tree.
# BUILD_ROOT=DIR puts it elsewhere (the benchmark times clean builds so).
#
# UBSAN=1 builds with the undefined behaviour sanitizer into build/ubsan/
# instead, with UBSAN_TEST_KERNELS besides the others.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
CHAPTER := $(notdir $(CURDIR))
ifeq ($(UBSAN),1)
# The sanitizer's reports go through the chapter's panic().
ifeq ($(wildcard panic.h),)
$(error UBSAN=1 needs a chapter with panic() (chapter 3 on): $(CHAPTER) has no panic.h)
endif
BUILD_ROOT ?= $(ROOT)/build/ubsan
TEST_KERNELS += $(UBSAN_TEST_KERNELS)
endif
BUILD_ROOT ?= $(ROOT)/build
BUILD := $(abspath $(BUILD_ROOT))/$(CHAPTER)
LINKER_SCRIPT ?= $(ROOT)/common/linker.ld

include $(ROOT)/common/toolchain.mk
include $(ROOT)/common/quiet.mk

# The C++ runtime support every chapter needs and none teaches.
RUNTIME_SOURCES := $(ROOT)/common/runtime.cpp

CXXFLAGS += -I. -I$(ROOT)/common

KERNELS := kernel $(TEST_KERNELS)
kernel_SOURCES := $(KERNEL_SOURCES)

# An object file's path under build/: chapter sources keep their relative
# path, the shared runtime goes under common/.
object = $(BUILD)/obj/$(patsubst $(ROOT)/%,%,$(basename $(1))).o
objects_of = $(foreach src,$(SOURCES) $($(1)_SOURCES) $(RUNTIME_SOURCES),$(call object,$(src)))

# The sanitizer's runtime, common/ubsan.cpp, is not checked itself: a check
# that failed inside a handler would call a handler again.
ifeq ($(UBSAN),1)
RUNTIME_SOURCES += $(ROOT)/common/ubsan.cpp
$(call object,$(ROOT)/common/ubsan.cpp): CXXFLAGS += -fno-sanitize=all
endif

# A step that fails after it began writing its file (make-iso.sh's xorriso
# stopped by a limit on file size, say) leaves it cut short, yet newer than
# what it is made of: the next make would take it as up to date. make
# deletes the file of a failed step instead.
.DELETE_ON_ERROR:

# The empty recipe keeps make from saying "Nothing to be done" when every
# kernel is up to date.
.PHONY: all
all: $(foreach k,$(KERNELS),$(BUILD)/$(k).elf $(BUILD)/$(k).iso)
	@:

# The kernel alone, which make run and make gdb boot: a chapter's first
# make run need not wait for its test kernels too.
.PHONY: kernel
kernel: $(BUILD)/kernel.elf $(BUILD)/kernel.iso
	@:

# Flags and rules are part of what an object is built from. The compiler
# and its flags are recorded in a file that changes only when they do, so
# that `make CXX=g++` after a clang build rebuilds everything.
TOOLCHAIN_STAMP := $(BUILD)/toolchain.txt
TOOLCHAIN_LINE := $(CXX) $(CXXFLAGS) | $(LD) $(LDFLAGS) | $(NASMFLAGS)
ifneq ($(file < $(TOOLCHAIN_STAMP)),$(TOOLCHAIN_LINE))
$(shell mkdir -p $(BUILD) && printf '%s' '$(TOOLCHAIN_LINE)' > $(TOOLCHAIN_STAMP))
endif
BUILD_RULES := $(MAKEFILE_LIST) $(TOOLCHAIN_STAMP)

$(BUILD)/obj/%.o: %.cpp $(BUILD_RULES)
	@mkdir -p $(dir $@)
	$(call step,CXX,$@)
	$(Q)$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/common/%.o: $(ROOT)/common/%.cpp $(BUILD_RULES)
	@mkdir -p $(dir $@)
	$(call step,CXX,$@)
	$(Q)$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.asm $(BUILD_RULES)
	@mkdir -p $(dir $@)
	$(call step,AS,$@)
	$(Q)nasm $(NASMFLAGS) -MD $(@:.o=.d) -MP $< -o $@

define KERNEL_RULES
$(BUILD)/$(1).elf: $(call objects_of,$(1)) $(LINKER_SCRIPT)
	$$(call step,LD,$$@)
	$(Q)$(LD) $(LDFLAGS) -T $(LINKER_SCRIPT) -o $$@ $(call objects_of,$(1))

$(BUILD)/$(1).iso: $(BUILD)/$(1).elf $(ROOT)/common/grub.cfg.in $(ROOT)/common/make-iso.sh
	$$(call step,ISO,$$@)
	$(Q)$(ROOT)/common/make-iso.sh $(BOOT_COMMAND) $$< $$@ "$(CHAPTER) $(1)"
endef
$(foreach k,$(KERNELS),$(eval $(call KERNEL_RULES,$(k))))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
