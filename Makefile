# The entry point for students, instructors and readers. Each chapter builds
# itself (chapters/NN-name/Makefile); this file ties them together.
#
#   make                     build every chapter into build/
#   make run [CH=03]         boot a chapter in QEMU (default: the last one)
#                            FIRMWARE=uefi boots it through UEFI instead of a BIOS
#   make test                build everything and run the test harness, also on the UBSan build
#   make test-ubsan          only the tests of the UBSan build (chapters 03 on)
#   make test-uefi           every test kernel under UEFI, every image from a disk (make test boots a few)
#   make gdb CH=03           boot halted, with gdb attached
#   make diff FROM=03 TO=04  what a step adds
#   make bench               boot and build timings
#   make grade [REPO=path]   instructors: points per chapter, of this or another checkout
#   make book                the book as HTML in build/book/, its figures into book/figures/
#   make workspace CH=03     start a chapter of the book's build-along path in ~/kernel-workspace
#                            (WORKSPACE=dir elsewhere): a copy of the chapter before
#   make screenshots         each chapter's screen, from the real kernel, into book/images/
#   make branches            git branches chapter-01 ... chapter-06, one standalone project each
#   make clean               remove build/
#
# A build prints one short line per step (common/quiet.mk); V=1 prints the
# full commands.
#
# UBSAN=1 builds with the undefined behaviour sanitizer into build/ubsan/
# (make UBSAN=1, make build CH=04 UBSAN=1, make run CH=04 UBSAN=1): the
# chapters that have a panic() to report through, 03 on.

# Chapters build in parallel, one per CPU; a make that this one starts
# (make test's make all) shares its job slots.
ifeq ($(MAKELEVEL),0)
MAKEFLAGS += --jobs=$(shell nproc 2> /dev/null || sysctl -n hw.ncpu)
endif
# A make that only builds keeps each chapter's output together, so that an
# error is not lost among another chapter's lines. Not for the others:
# output-sync holds a recipe's output back until it ends, and make run's
# screen, gdb's prompt and pytest's progress must reach the terminal as
# they happen (QEMU refuses to draw its screen into anything else).
ifeq ($(filter-out all build harness-fixtures $(CHAPTERS),$(MAKECMDGOALS)),)
MAKEFLAGS += --output-sync=target
endif

CHAPTERS := $(sort $(notdir $(wildcard chapters/[0-9][0-9]-*)))
UBSAN_CHAPTERS := $(sort $(notdir $(patsubst %/panic.h,%,$(wildcard chapters/[0-9][0-9]-*/panic.h))))
# Where the chapters' kernels are built (common/kernel.mk's BUILD_ROOT).
BUILD_ROOT := build$(if $(filter 1,$(UBSAN)),/ubsan)
PYTHON := /usr/bin/python3

# CH may be given as 3, 03 or 03-vga-text.
chapter_dir = $(firstword $(filter $(1) $(1)-% 0$(1)-%,$(CHAPTERS)))
CH ?= $(lastword $(CHAPTERS))
CHAPTER := $(call chapter_dir,$(CH))

.PHONY: all $(CHAPTERS) harness-fixtures build run test test-ubsan test-uefi gdb diff bench grade \
	book book-kernel workspace screenshots branches clean deps test-deps book-deps check-chapter

ifeq ($(UBSAN),1)
all: $(UBSAN_CHAPTERS)
else
all: $(CHAPTERS) harness-fixtures
endif

$(CHAPTERS): | deps
	@$(MAKE) --no-print-directory -C chapters/$@

# Small broken kernels with which the harness tests its own diagnoses.
harness-fixtures: | deps
	@$(MAKE) --no-print-directory -C harness/fixtures

# Build one chapter only: make build CH=03
build: check-chapter | deps
	@$(MAKE) --no-print-directory -C chapters/$(CHAPTER)

check-chapter:
	@if [ -z "$(CHAPTER)" ]; then \
	    echo "No chapter '$(CH)'. Choose one of:"; \
	    for c in $(CHAPTERS); do echo "  $$c"; done; \
	    exit 1; \
	fi

# What each kind of target needs installed (common/check-deps.sh reads it
# from common/host/requirements.tsv). The check is an order-only
# prerequisite of what builds, or the first line of a recipe, so that with
# parallel jobs nothing is built before a missing tool is installed.
deps:
	@common/check-deps.sh build
test-deps:
	@common/check-deps.sh build uefi gdb book test
book-deps:
	@common/check-deps.sh book

# bios (SeaBIOS, QEMU's own) or uefi (OVMF).
FIRMWARE ?= bios
run: check-chapter
	@common/check-deps.sh build $(if $(filter uefi,$(FIRMWARE)),uefi)
	@$(MAKE) --no-print-directory -C chapters/$(CHAPTER) kernel
	@common/run.sh $(BUILD_ROOT)/$(CHAPTER)/kernel.iso $(FIRMWARE)

# The port of QEMU's GDB stub; another one lets two sessions run at once.
GDB_PORT ?= 1234
gdb: check-chapter
	@common/check-deps.sh build gdb
	@$(MAKE) --no-print-directory -C chapters/$(CHAPTER) kernel
	@common/gdb.sh $(BUILD_ROOT)/$(CHAPTER) $(GDB_PORT)

# Arguments for pytest, e.g. make test PYTEST_ARGS="-k 03 -x". pytest runs
# in parallel, one worker per CPU and one more (harness/conftest.py).
# make test runs the suite on the normal build, then (as make test-ubsan)
# the tests of chapters 03 on again on the UBSan build, each run with its
# own JUnit XML. The harness builds what it tests, each make within its
# limits of time, file size and memory (harness/build.py): a chapter that
# does not build, or whose build runs away, fails its own tests, and the
# other chapters are tested all the same.
PYTEST_ARGS ?=
PYTEST := $(PYTHON) -m pytest harness
test: test-deps
	$(PYTEST) --junitxml=build/test-results.xml $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-ubsan

test-ubsan: test-deps
	$(PYTEST) --ubsan --junitxml=build/test-results-ubsan.xml $(PYTEST_ARGS)

# Under UEFI a boot takes ten times as long, so make test boots one test
# kernel per chapter that way, and this target every one, and every
# chapter's image from a disk and a USB stick under both firmwares.
test-uefi: test-deps
	$(PYTHON) -m pytest harness/test_uefi.py harness/test_images.py --uefi-all \
		--junitxml=build/test-uefi-results.xml $(PYTEST_ARGS)

diff:
	@common/diff.sh "$(call chapter_dir,$(FROM))" "$(call chapter_dir,$(TO))" "$(FROM)" "$(TO)"

bench: test-deps
	$(PYTHON) harness/tools/bench.py

# Grades the checkout at REPO (this one by default) without changing it.
# GRADE_ARGS passes more options, e.g. GRADE_ARGS="--chapters 03,04 --keep".
REPO ?= .
GRADE_ARGS ?=
grade: test-deps
	$(PYTHON) harness/tools/grade.py --repo "$(REPO)" $(GRADE_ARGS)

# The memory map figure is drawn from chapter 6's kernel, so the book
# builds that first (and needs its tools, besides pandoc), always with the
# default compiler: another one lays the kernel out at other addresses.
# test_book_figures.py checks the figures against the same build. The
# chapter's test kernels are left out (TEST_KERNELS=): the figure needs the
# kernel alone.
BOOK_KERNEL_ROOT := build/book-kernel
BOOK_KERNEL := $(BOOK_KERNEL_ROOT)/06-double-faults/kernel.elf
book-kernel: deps
	@$(MAKE) --no-print-directory -C chapters/06-double-faults CXX=clang++ \
		BUILD_ROOT=$(abspath $(BOOK_KERNEL_ROOT)) TEST_KERNELS=

book: book-deps book-kernel
	$(PYTHON) common/book/figures.py --kernel $(BOOK_KERNEL)
	$(PYTHON) common/book/render.py

# The build-along path of the book (chapters 2-6 open with it).
WORKSPACE ?= $(HOME)/kernel-workspace
workspace: check-chapter
	@common/workspace.sh $(CHAPTER) $(abspath $(WORKSPACE))

screenshots: test-deps
	@$(MAKE) --no-print-directory all
	$(PYTHON) harness/tools/screenshots.py

branches:
	common/make-branches.sh

clean:
	rm -rf build
