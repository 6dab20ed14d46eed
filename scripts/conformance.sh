#!/usr/bin/env bash
# conformance.sh WRIT_BINARY WORKDIR - run Writ against the Cedar conformance data.
#
# Three sets, each checked against a minimum number of passing requests in
# scripts/conformance.thresholds (lines "set min_passed"):
#   hand    hand-written tests          root tests/data/cedar
#   corpus  corpus-tests.tar.gz         root WORKDIR (paths corpus-tests/H.*)
#   random  random-tests.tar.gz         root WORKDIR (paths random-dev/t*.*)
# The tarballs are unpacked into WORKDIR once.  Prints each run's summary line
# ("N passed, N failed") and exits non-zero when a set is under its minimum or
# the run did not finish with a summary.  Sets whose tests carry a schema and
# `shouldValidate` also report the validator's agreement ("validation: N
# agree, N disagree"), checked against "SET-validate min_agree" and failing
# on any disagreement.
set -uo pipefail

usage() { echo "usage: $0 WRIT_BINARY WORKDIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
case "$1" in -h|--help) usage ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
data="$repo/tests/data"
thresholds="$here/conformance.thresholds"

writ=$(realpath -e "$1" 2>/dev/null) || { echo "conformance: no such binary: $1" >&2; exit 2; }
[ -x "$writ" ] || { echo "conformance: not executable: $writ" >&2; exit 2; }
mkdir -p "$2" || exit 2
work=$(cd "$2" && pwd)

# Unpack a tarball into $work once; a stamp file marks a finished unpack.
unpack() {
    local tarball=$1 dir=$2
    if [ ! -f "$work/.$dir.unpacked" ] || [ "$tarball" -nt "$work/.$dir.unpacked" ]; then
        rm -rf "${work:?}/$dir"
        tar -xzf "$tarball" -C "$work" || { echo "conformance: cannot unpack $tarball" >&2; return 1; }
        touch "$work/.$dir.unpacked"
    fi
}
unpack "$data/cedar/corpus-tests.tar.gz" corpus-tests || exit 1
unpack "$data/cedar-random/random-tests.tar.gz" random-dev || exit 1

min_for() {
    local v
    v=$(awk -v s="$1" '$1 == s { print $2 }' "$thresholds" 2>/dev/null | tail -n 1)
    echo "${v:-0}"
}

status=0
# run SET ROOT GLOB...: run writ from ROOT over the test files (not the
# *.entities.json companions) that the globs match, relative to ROOT.
run() {
    local set=$1 root=$2; shift 2
    local files out last passed failed min
    mapfile -t files < <(cd "$root" && for g in "$@"; do compgen -G "$g"; done | grep -v '\.entities\.json$' | sort)
    if [ ${#files[@]} -eq 0 ]; then
        echo "conformance $set: no test files under $root" >&2; status=1; return
    fi
    out=$(cd "$root" && "$writ" conformance --root "$root" "${files[@]}" 2>&1)
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ ! "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        printf '%s\n' "$out" | tail -n 20 >&2
        echo "conformance $set: no summary line (exit status and last line above)" >&2
        status=1; return
    fi
    passed=${BASH_REMATCH[1]}; failed=${BASH_REMATCH[2]}
    min=$(min_for "$set")
    echo "$set: $last"
    if [ "$passed" -lt "$min" ]; then
        echo "conformance $set: $passed passed, below the minimum of $min" >&2
        status=1
    fi
    local vline
    vline=$(printf '%s\n' "$out" | grep -E '^validation: [0-9]+ agree, [0-9]+ disagree$' | tail -n 1)
    if [[ "$vline" =~ ^validation:\ ([0-9]+)\ agree,\ ([0-9]+)\ disagree ]]; then
        local agree=${BASH_REMATCH[1]} disagree=${BASH_REMATCH[2]} vmin
        vmin=$(min_for "$set-validate")
        echo "$set: $vline"
        if [ "$disagree" -gt 0 ] || [ "$agree" -lt "$vmin" ]; then
            echo "conformance $set: validation agrees on $agree, disagrees on $disagree (minimum $vmin agreeing, none disagreeing)" >&2
            status=1
        fi
    elif [ "$(min_for "$set-validate")" -gt 0 ]; then
        echo "conformance $set: no validation line" >&2
        status=1
    fi
    if [ -n "${WRIT_CONFORMANCE_VERBOSE:-}" ]; then printf '%s\n' "$out"; fi
}

run hand   "$data/cedar" 'tests/*/*.json'
run corpus "$work"       'corpus-tests/*.json'
run random "$work"       'random-dev/*.json'
exit $status
