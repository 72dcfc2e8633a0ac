#!/usr/bin/env bash
# Shows what one step of the book adds: a summary of the files added,
# changed and removed, then the diff between the two chapter directories.
# Usage: diff.sh FROM_DIR TO_DIR FROM TO: the chapters' directories as the
# Makefile resolved them (empty for an unknown chapter) and as they were given.
set -uo pipefail
from=$1 to=$2
cd chapters || exit 1  # make runs it from the repository's top

if [ -z "$3" ] || [ -z "$4" ]; then
    echo "usage: make diff FROM=03 TO=04 (a chapter as 3, 03 or 03-vga-text)" >&2
    exit 1
fi

# Stops with the valid chapters when the Makefile found no directory for one.
require_chapter() {  # GIVEN DIRECTORY
    [ -n "$2" ] && return
    echo "make diff: no chapter '$1'. Choose one of:" >&2
    printf '  %s\n' [0-9][0-9]-*/ | tr -d / >&2
    exit 1
}
require_chapter "$3" "$from"
require_chapter "$4" "$to"

# The files of a chapter as git sees them: tracked or new, but not ignored
# (a stray cache folder is not part of a step).
files_in() { git ls-files --cached --others --exclude-standard -- "$1" | sed "s|^$1/||" | sort -u; }

the_diff() {
    sort -u <(files_in "$from") <(files_in "$to") | while read -r file; do
        diff -uN "$from/$file" "$to/$file"
    done
}

echo "What $to adds to $from:"
comm -13 <(files_in "$from") <(files_in "$to") | sed 's/^/  added:   /'
comm -12 <(files_in "$from") <(files_in "$to") | while read -r file; do
    cmp -s "$from/$file" "$to/$file" || echo "  changed: $file"
done
comm -23 <(files_in "$from") <(files_in "$to") | sed 's/^/  removed: /'
the_diff | awk '/^(\+\+\+|---) / {next} /^\+/ {added++} /^-/ {removed++}
    END {printf "  %d lines added, %d removed\n\n", added, removed}'
the_diff
exit 0
