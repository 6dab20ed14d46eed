#!/bin/sh
# run.sh - differential test: random Cedar cases decided by cedar-wasm, replayed through Writ.
#
#   tests/diff/run.sh SEED COUNT OUTDIR WRIT_BIN
#
# SEED is any string; `random` picks one (printed, so a failure can be replayed).  Cases
# are generated and checked in chunks of 500 so a long run (COUNT=20000) needs little
# disk.  Passing chunks are deleted; a failing case is kept in OUTDIR/failures/ with its
# policies and entities, ready to copy into tests/data/regress/ (see README.md).
# Exit status: 0 when Writ agrees on every request, 1 on any disagreement, 2 on a setup error.
set -eu

if [ $# -ne 4 ]; then
    echo "usage: $0 SEED COUNT OUTDIR WRIT_BIN" >&2
    exit 2
fi
seed=$1 count=$2 out=$3 writ=$4
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
chunk=${DIFF_CHUNK:-500}

if [ "$seed" = random ]; then
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi
if [ ! -d "$repo/tests/peers/node_modules/@cedar-policy/cedar-wasm" ]; then
    (cd "$repo/tests/peers" && npm ci --no-audit --no-fund >/dev/null) || {
        echo "diff: cannot install cedar-wasm (npm ci in tests/peers)" >&2
        exit 2
    }
fi
[ -x "$writ" ] || { echo "diff: $writ is not executable" >&2; exit 2; }

mkdir -p "$out"
work="$out/work"
fail="$out/failures"
rm -rf "$work"
mkdir -p "$work"
echo "diff: seed $seed, $count cases, chunks of $chunk"

first=0 bad=0
while [ "$first" -lt "$count" ]; do
    n=$((count - first))
    [ "$n" -gt "$chunk" ] && n=$chunk
    rm -f "$work"/*
    node "$here/gen.mjs" --seed "$seed" --first "$first" --count "$n" --out "$work" --prefix "diff-$seed"
    tests=$(find "$work" -name '*.json' ! -name '*.entities.json' | sort)
    # shellcheck disable=SC2086  # the file names are ours: no spaces
    if ! "$writ" conformance --root "$work" $tests >"$out/last.log" 2>&1; then
        # find the failing cases one by one and keep them
        mkdir -p "$fail"
        for t in $tests; do
            if ! "$writ" conformance --root "$work" "$t" >/dev/null 2>&1; then
                b=$(basename "$t" .json)
                cp "$work/$b.json" "$work/$b.cedar" "$work/$b.entities.json" "$fail/"
                echo "diff: MISMATCH $fail/$b.json"
                "$writ" conformance --verbose --root "$fail" "$fail/$b.json" 2>&1 | sed 's/^/    /' | head -20
                bad=$((bad + 1))
            fi
        done
    fi
    tail -n 1 "$out/last.log"
    first=$((first + n))
done
rm -rf "$work"

if [ "$bad" -ne 0 ]; then
    echo "diff: $bad case(s) disagree with cedar-wasm (seed $seed); they are in $fail"
    exit 1
fi
echo "diff: all $count cases agree with cedar-wasm (seed $seed)"
