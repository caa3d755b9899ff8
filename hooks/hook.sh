#!/bin/sh
# gitrack-hook v1 (@HOOK@): written by `gitrack install`, removed by `gitrack uninstall`.
# The hook that was here before is kept beside this file as @HOOK@.gitrack-chained; it
# runs first, with the same arguments and input, and its exit status is this hook's.
# gitrack's own part never fails a git command: at worst it prints one line.
hook="@HOOK@"
gitrack_python="@PYTHON@"
chained="$(dirname "$0")/$hook.gitrack-chained"

input=/dev/null
case "$hook" in
    pre-push|post-rewrite)
        # Both the chained hook and gitrack read the ref list git sends on stdin.
        input=$(mktemp "${TMPDIR:-/tmp}/gitrack-hook.XXXXXX") || input=/dev/null
        [ "$input" = /dev/null ] || cat > "$input"
        ;;
esac

status=0
if [ -x "$chained" ]; then
    "$chained" "$@" < "$input"
    status=$?
fi

gitrack_part() {
    # Fast paths in plain sh: most git commands need nothing from gitrack.
    case "$hook" in
        post-commit)
            parent=$(git rev-parse -q --verify HEAD^ 2>/dev/null) || return 0
            git notes --ref=gitrack list "$parent" >/dev/null 2>&1 || return 0
            ;;
        post-checkout|post-merge)
            [ "$hook" = post-checkout ] && [ "$3" != 1 ] && return 0
            [ -f gitrack.toml ] || grep -qs '^\[tool\.gitrack' pyproject.toml || return 0
            ;;
        post-rewrite)
            if git config --get-all notes.rewriteRef 2>/dev/null | grep -qx 'refs/notes/gitrack' \
                && [ "$(git config --bool "notes.rewrite.$1" 2>/dev/null)" != false ]; then
                return 0  # git already carried the runs over
            fi
            ;;
        pre-push)
            [ "$status" = 0 ] || return 0  # the push is refused anyway
            ;;
    esac
    if [ ! -x "$gitrack_python" ]; then
        echo "gitrack: $hook hook skipped: $gitrack_python is gone (run gitrack install again)" >&2
        return 0
    fi
    "$gitrack_python" -m gitrack.hookrun "$hook" "$@" < "$input" || true
}
gitrack_part "$@"

[ "$input" = /dev/null ] || rm -f "$input"
exit "$status"
