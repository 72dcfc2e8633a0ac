#!/usr/bin/env bash
# Carries a fix in one chapter's file forward to the later chapters.
# Usage: common/carry-forward.sh chapters/03-vga-text/vga.cpp [...]
#
# A later chapter gets the new version only where its copy is still the
# same as the committed (HEAD) version of the file, that is, where the step
# did not change that file itself. Copies a step did change are listed, to
# be mended by hand.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

for path in "$@"; do
    chapter=$(echo "$path" | cut -d/ -f2)
    file=$(echo "$path" | cut -d/ -f3-)
    old=$(mktemp)
    git show "HEAD:$path" > "$old" 2> /dev/null || { echo "$path is not committed yet" >&2; exit 1; }
    for later in chapters/*/; do
        later=$(basename "$later")
        [[ "$later" > "$chapter" ]] || continue
        target="chapters/$later/$file"
        [ -f "$target" ] || continue
        if cmp -s "$old" "$target"; then
            cp "$path" "$target"
            echo "carried into $target"
        elif ! cmp -s "$path" "$target"; then
            echo "not carried: $target was changed by its own step; mend it by hand"
        fi
    done
    rm -f "$old"
done
