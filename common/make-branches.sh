#!/usr/bin/env bash
# Makes a git branch per chapter, chapter-01 ... chapter-06, for readers who
# would rather follow the book in git than in directories. Each branch holds
# one chapter's kernel as a project of its own, from the current commit:
#
#   README.md       a few lines on the branch, then the chapter's book page
#   Makefile        the chapter's Makefile, made to stand alone: make, make run, make gdb
#                   (each checks its tools first, as on the main branch)
#   *.cpp, *.asm... the chapter's sources, at the top level
#   common/         the build rules, linker script, runtimes and scripts it uses
#   images/         the book's screenshots, which the pages show
#   figures/        the book's figures (SVG), which the pages show too
#
# The branches form a chain, chapter-02's parent being chapter-01, so that
# `git log chapter-06` reads as the book and `git diff chapter-03 chapter-04`
# shows exactly what step 4 changes (the same files as `make diff`), and
# the chapter's page.
#
# Only git's plumbing is used, with an index of its own: the working tree,
# the index and the current branch are never touched. Running it again
# replaces the branches; from the same commit it makes the same commits.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

if ! git rev-parse --verify -q HEAD:chapters > /dev/null; then
    echo "make-branches.sh: HEAD has no chapters/; run it on the main branch" >&2
    exit 1
fi
source=$(git rev-parse HEAD)

# What every chapter needs besides its own directory.
shared_files=(common/kernel.mk common/toolchain.mk common/quiet.mk common/linker.ld common/runtime.cpp
              common/ubsan.cpp common/grub.cfg.in common/make-iso.sh common/run.sh common/gdb.sh
              common/qemu-ending.sh common/qemu-ending.gdb common/check-deps.sh common/host/requirements.tsv
              common/host/qemu-args.sh common/host/qemu-machine.args common/host/qemu-uefi.args
              .gitignore .clang-format)

# The commits carry the source commit's author, committer and dates, so that
# the same source gives the same branches, and no git identity is needed.
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_AUTHOR_DATE
export GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL GIT_COMMITTER_DATE
IFS=$'\t' read -r GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_AUTHOR_DATE \
    GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL GIT_COMMITTER_DATE \
    < <(git log -1 --format=$'%an\t%ae\t%ad\t%cn\t%ce\t%cd' --date=raw "$source")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export GIT_INDEX_FILE=$scratch/index

# The same in every branch, so that it never shows in a diff between two.
readme_preface() {
    cat <<'EOF'
> This branch holds one chapter of the book as a project of its own: `make`
> builds it into `build/`, `make run` boots it in QEMU and `make gdb` boots it
> with gdb attached. `git diff chapter-03 chapter-04` (any two neighbouring
> chapter branches) shows what a step adds. The other chapters, the test
> harness (`make test`) and `make diff` are on the project's main branch.

EOF
}

# The chapter's own Makefile with its include of ../../common/kernel.mk
# pointed at common/, plus the targets the main Makefile gives a chapter.
standalone_makefile() {
    local chapter=$1
    git cat-file blob "$source:chapters/$chapter/Makefile" | grep -v '^include ../../common/kernel.mk$'
    cat <<EOF
# kernel.mk names the chapter after its directory, which here is the whole
# project's; this keeps the book's name for the build directory and GRUB's menu.
override CHAPTER := $chapter
include common/kernel.mk

# Nothing is built before the tools are checked (common/check-deps.sh).
.PHONY: deps run gdb clean
all: | deps
deps:
	@common/check-deps.sh build

run: all
	@common/run.sh \$(BUILD)/kernel.iso

gdb: all
	@common/check-deps.sh gdb
	@common/gdb.sh \$(BUILD)

clean:
	rm -rf build
EOF
}

# Puts a blob made from standard input into the index at the given path.
add_file() {
    git update-index --add --cacheinfo "100644,$(git hash-object -w --stdin),$1"
}

parent=()
for chapter in $(git ls-tree --name-only "$source" chapters/ | sed 's|^chapters/||' | grep -E '^[0-9]{2}-'); do
    number=${chapter%%-*}
    page=book/$chapter.md
    title=$(git cat-file blob "$source:$page" | sed -n 's/^# //p' | head -n 1)

    git read-tree "$source:chapters/$chapter"  # the chapter's files at the top level
    git ls-tree "$source" -- "${shared_files[@]}" | git update-index --index-info
    git ls-tree -r "$source" -- book/images | sed 's|\tbook/images/|\timages/|' | git update-index --index-info
    git ls-tree -r "$source" -- book/figures | sed 's|\tbook/figures/|\tfigures/|' | git update-index --index-info
    standalone_makefile "$chapter" | add_file Makefile
    { readme_preface; git cat-file blob "$source:$page"; } | add_file README.md

    commit=$(git commit-tree "$(git write-tree)" "${parent[@]}" \
        -m "$title" -m "The book's chapter $chapter as a project of its own, made by common/make-branches.sh from commit $source.")
    git update-ref "refs/heads/chapter-$number" "$commit"
    echo "chapter-$number  $title"
    parent=(-p "$commit")
done
