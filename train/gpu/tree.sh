#!/bin/sh
# Make the working tree small enough for a device call, and back (train/gpu/README.md, "Sizes").
#
# The device tool sends the tracked and untracked-not-ignored files of the checkout, at most
# 64 MiB with the carried paths; models/ alone is about 92 MiB and a GPU run needs nothing from
# it (its vocabulary is in the bundle). `slim` takes models/ out of the index (the files stay on
# disk) and ignores it in .git/info/exclude, so it neither travels nor counts; `restore` puts
# the index back from HEAD and drops the exclude line. Between the two, commit only with
# explicit paths (`git commit <paths> -m ...`): a plain `git commit` would record models/ as
# deleted.
#
#   train/gpu/tree.sh size       # MiB that would travel now (without carried paths)
#   train/gpu/tree.sh slim       # before the device call(s)
#   train/gpu/tree.sh restore    # right after
set -e
cd "$(dirname "$0")/../.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
size() {
    git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null |
        awk '{s += $1} END {printf "%.1f MiB would travel (tracked and untracked-not-ignored files present)\n", s / 1048576}'
}
case "$1" in
size) size ;;
slim)
    git rm -r -q --cached models
    grep -qx '/models/' "$exclude" 2>/dev/null || echo '/models/' >> "$exclude"
    size
    echo "models/ is out of the index: restore it with train/gpu/tree.sh restore"
    ;;
restore)
    git reset -q -- models
    if [ -f "$exclude" ]; then
        grep -vx '/models/' "$exclude" > "$exclude.tmp" || true
        mv "$exclude.tmp" "$exclude"
    fi
    size
    git status --short -- models | head -5
    ;;
*) echo "usage: $0 size|slim|restore" >&2; exit 2 ;;
esac
