#!/usr/bin/env bash
# Shows what one step of the book adds: a summary of the files added,
# changed and removed, then the diff between the two chapter directories.
# Usage: diff.sh FROM_DIR TO_DIR FROM_ARG TO_ARG (as resolved by the Makefile)
set -uo pipefail
from=$1 to=$2
if [ -z "$from" ] || [ -z "$to" ]; then
    echo "usage: make diff FROM=03 TO=04 (unknown chapter '${3}' or '${4}')" >&2
    exit 1
fi
cd chapters || exit 1

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
