#!/usr/bin/env bash
# check_banned.sh - fail when src/ calls a banned C function.
#
# sprintf/vsprintf/strcat/strcpy/gets write without a bound; strncpy leaves
# strings unterminated; strtok keeps hidden state.  Use snprintf, memcpy with
# explicit lengths, or the helpers in src/util.  Comments are ignored.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

banned='sprintf|vsprintf|strcat|strcpy|strncpy|strtok|gets'
found=0
while IFS= read -r -d '' f; do
    # Strip /* */ and // comments and string literals, keep line numbers.
    hits=$(perl -0777 -pe '
        s{/\*.*?\*/}{ my $c = $&; $c =~ s/[^\n]//g; $c }gse;
        s{//[^\n]*}{}g;
        s{"(?:\\.|[^"\\\n])*"}{""}g;
    ' "$f" | grep -nE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" || true)
    if [ -n "$hits" ]; then
        while IFS= read -r h; do echo "$f:$h"; done <<<"$hits"
        found=1
    fi
done < <(find src include -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null)

if [ "$found" -ne 0 ]; then
    echo "check_banned: banned functions used (see above): $banned" >&2
    exit 1
fi
echo "check_banned: ok"
