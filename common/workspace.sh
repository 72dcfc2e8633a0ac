#!/usr/bin/env bash
# Starts a chapter of the book's build-along path: make workspace CH=03
# [WORKSPACE=dir]. Usage: common/workspace.sh <chapter-dir> <workspace>
#
# The workspace looks like this repository where the build needs it to:
# WORKSPACE/chapters/NN-name holds the student's chapter and WORKSPACE/common
# links to this repository's common/, so a chapter's Makefile
# (include ../../common/kernel.mk) builds there unchanged, into
# WORKSPACE/build. The new chapter starts as a copy of the previous one: the
# student's own, if the workspace has it, else this repository's.
set -euo pipefail
cd "$(dirname "$0")/.."
repository=$(pwd)
chapter=$1
workspace=$2

previous=$(ls -d chapters/[0-9][0-9]-*/ | sed 's|chapters/||; s|/$||' | grep -B1 -x "$chapter" | head -1)
if [ -z "$chapter" ] || [ "$previous" = "$chapter" ]; then
    echo "make workspace starts chapters 02 to 06 from the chapter before; choose CH=02 ... CH=06" >&2
    exit 1
fi

mkdir -p "$workspace/chapters"
ln -sfn "$repository/common" "$workspace/common"
target="$workspace/chapters/$chapter"
if [ -e "$target" ]; then
    echo "$target exists already; it is left as it is (remove it to start the chapter again)" >&2
    exit 1
fi
if [ -d "$workspace/chapters/$previous" ]; then
    source="$workspace/chapters/$previous"
else
    source="chapters/$previous"
fi
cp -R "$source" "$target"
echo "$target: a copy of $source, to become $chapter."
echo "Check your steps with: KERNEL_WORKSPACE=$workspace /usr/bin/python3 -m pytest harness --chapter ${chapter%%-*} -k ..."
