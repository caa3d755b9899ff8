#!/bin/sh
# gitrack-hook v1: written by `gitrack install`, removed by `gitrack uninstall`.
# The hook that was here before is kept beside this file as NAME.gitrack-chained; it
# runs first, with the same arguments and input, and its exit status is this hook's.
# gitrack's own part never fails a git command: at worst it prints one line.
# `gitrack install` writes both values single-quoted: a path is never read as shell code.
gitrack_hook=@HOOK@
gitrack_python=@PYTHON@
gitrack_chained="$(dirname "$0")/$gitrack_hook.gitrack-chained"

gitrack_input=/dev/null
case "$gitrack_hook" in
    pre-push|post-rewrite)
        # Both the chained hook and gitrack read what git sends on stdin.
        gitrack_input=$(mktemp "${TMPDIR:-/tmp}/gitrack-hook.XXXXXX") || gitrack_input=/dev/null
        [ "$gitrack_input" = /dev/null ] || cat > "$gitrack_input"
        ;;
esac

gitrack_status=0
if [ -x "$gitrack_chained" ]; then
    case "$(head -n 1 "$gitrack_chained" | tr -d '\r')" in
        '#!/bin/sh'|'#!/usr/bin/env sh')  # exactly: `#!/bin/sh -e` must keep its -e
            # Sourced in a subshell so that $0 stays this hook's path: hook managers such
            # as husky find the user's script from $0.
            ( . "$gitrack_chained" ) < "$gitrack_input"
            gitrack_status=$?
            ;;
        *)
            "$gitrack_chained" "$@" < "$gitrack_input"
            gitrack_status=$?
            ;;
    esac
fi

gitrack_part() {
    # Fast paths in plain sh: most git commands need nothing from gitrack.
    case "$gitrack_hook" in
        post-commit)
            # Only a commit whose tree is exactly a run's snapshot needs gitrack.
            gitrack_parent=$(git rev-parse -q --verify HEAD^ 2>/dev/null) || return 0
            gitrack_snaps=$(git notes --ref=gitrack show "$gitrack_parent" 2>/dev/null \
                | sed -n 's/.*"snapshot":"\([0-9a-f]*\)".*/\1^{tree}/p')
            [ -n "$gitrack_snaps" ] || return 0
            gitrack_tree=$(git rev-parse -q --verify 'HEAD^{tree}') || return 0
            # A commit that changes no code (e.g. --allow-empty) commits no run's edits.
            [ "$gitrack_tree" = "$(git rev-parse -q --verify "$gitrack_parent^{tree}")" ] \
                && return 0
            # shellcheck disable=SC2086 # one id per word
            git rev-parse $gitrack_snaps 2>/dev/null | grep -qx "$gitrack_tree" || return 0
            ;;
        post-checkout|post-merge)
            [ "$gitrack_hook" = post-checkout ] && [ "$3" != 1 ] && return 0
            [ -f gitrack.toml ] || grep -qs '^\[tool\.gitrack' pyproject.toml || return 0
            git rev-parse -q --verify HEAD >/dev/null 2>&1 || return 0  # an orphan branch
            git notes --ref=gitrack list HEAD >/dev/null 2>&1 || return 0  # no run here
            ;;
        post-rewrite)
            if git config --get-all notes.rewriteRef 2>/dev/null | grep -qx 'refs/notes/gitrack' \
                && [ "$(git config --bool "notes.rewrite.$1" 2>/dev/null)" != false ]; then
                return 0  # git already carried the runs over
            fi
            ;;
        pre-push)
            [ "$gitrack_status" = 0 ] || return 0  # the push is refused anyway
            # `git push --dry-run` runs this hook too: publish nothing then.
            if [ -r "/proc/$PPID/cmdline" ]; then
                tr '\0' '\n' < "/proc/$PPID/cmdline"
            else
                ps -o args= -p "$PPID" 2>/dev/null | tr ' ' '\n'
            fi | grep -qx -e '--dry-run' -e '-n' -e '-[a-zA-Z]*n[a-zA-Z]*' && return 0
            ;;
    esac
    if [ ! -x "$gitrack_python" ]; then
        echo "gitrack: $gitrack_hook hook skipped: $gitrack_python is gone (run gitrack install again)" >&2
        return 0
    fi
    "$gitrack_python" -m gitrack.hookrun "$gitrack_hook" "$@" < "$gitrack_input" || true
}
gitrack_part "$@"

[ "$gitrack_input" = /dev/null ] || rm -f "$gitrack_input"
exit "$gitrack_status"
