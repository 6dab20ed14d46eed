#!/bin/sh
# run.sh - Writ vs cedar-wasm: decision latency on agent workloads and on the conformance corpus.
#
#   bench/run.sh [BUILD_DIR]          (default: build)
#
# Environment: SETS (default "10 100 1000 10000"), BUDGET_MS per engine and set (default
# 3000), CORPUS_SAMPLE (test files of the corpus to time, default 300; 0 skips),
# CEDAR_DATA (default tests/data/cedar, holding corpus-tests.tar.gz), OUT (default
# BUILD_DIR/bench).
#
# For each set it generates the workload (bench/gen_agents.mjs), times Writ
# (bench_cedar, writ_authorize on pre-parsed requests) and cedar-wasm (bench/ref_cedar.mjs,
# pre-parsed policy set, the request's entity slice per call), checks that both engines
# return the same decision, reasons and errors for every request, and prints a table.
# Disagreements are a correctness bug, not a benchmark result: they are listed and make
# the exit status 1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build="$repo/$build" ;; esac
sets=${SETS-"10 100 1000 10000"}
budget=${BUDGET_MS:-3000}
sample=${CORPUS_SAMPLE:-300}
data=${CEDAR_DATA:-$repo/tests/data/cedar}
out=${OUT:-$build/bench}
writ="$build/writ"

if [ ! -d "$repo/tests/peers/node_modules/@cedar-policy/cedar-wasm" ]; then
    (cd "$repo/tests/peers" && npm ci --no-audit --no-fund >/dev/null)
fi

# bench_cedar: built by CMake (bench/bench_*.c); otherwise by hand against libwritcore.a.
bench="$build/bench_cedar"
if [ ! -x "$bench" ]; then
    [ -f "$build/libwritcore.a" ] || { echo "run.sh: build Writ first (no $build/libwritcore.a)" >&2; exit 2; }
    # shellcheck disable=SC2046
    cc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
        -I"$repo/include" -I"$repo/src" "$here/bench_cedar.c" "$build/libwritcore.a" \
        $(pkg-config --cflags --libs jansson) -lssl -lcrypto -lsqlite3 -lpthread -lm -o "$bench"
fi

mkdir -p "$out"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

rows=""
disagree=0
for n in $sets; do
    d="$out/agents-$n"
    node "$here/gen_agents.mjs" --policies "$n" --out "$d" 2>/dev/null
    "$bench" "$d" --name "agents-$n" --budget-ms "$budget" --decisions "$d/writ.jsonl" >"$d/writ.txt"
    "$bench" "$d" --name "agents-$n" --budget-ms "$budget" --with-parse >"$d/writp.txt"
    node "$here/ref_cedar.mjs" "$d" --name "agents-$n" --budget-ms "$budget" --decisions "$d/ref.jsonl" >"$d/ref.txt"
    if ! node "$here/compare.mjs" "$d/ref.jsonl" "$d/writ.jsonl" "$d/requests.json" >"$d/diff.txt"; then
        disagree=$((disagree + 1))
    fi
    wm=$(field median_ns "$d/writ.txt") wp=$(field p99_ns "$d/writ.txt") wd=$(field decisions_per_s "$d/writ.txt")
    pm=$(field median_ns "$d/writp.txt")
    rm_=$(field median_ns "$d/ref.txt") rp=$(field p99_ns "$d/ref.txt") rd=$(field decisions_per_s "$d/ref.txt")
    al=$(field allow "$d/ref.txt")
    rows="$rows$(printf '%-14s %10s %10s %10s %10s %12s %12s %9s %9s %6s %s' "agents-$n" "$wm" "$wp" "$pm" "$wd" \
        "$rm_" "$rp" "$(ratio "$rm_" "$wm")" "$(ratio "$rp" "$wp")" "$al" "$(head -n 1 "$d/diff.txt")")
"
done

# The corpus: `writ conformance --time` against the same files through cedar-wasm.
if [ "$sample" -gt 0 ] && [ ! -f "$data/corpus-tests.tar.gz" ]; then
    echo "run.sh: no $data/corpus-tests.tar.gz: corpus timing skipped (set CEDAR_DATA)" >&2
    sample=0
fi
if [ "$sample" -gt 0 ]; then
    c="$out/corpus"
    if [ ! -d "$c/corpus-tests" ]; then
        mkdir -p "$c"
        tar xzf "$data/corpus-tests.tar.gz" -C "$c"
    fi
    find "$c/corpus-tests" -name '*.json' ! -name '*.entities.json' | sort | head -n "$sample" >"$c/sample.txt"
    # shellcheck disable=SC2046
    "$writ" conformance --root "$c" --time $(cat "$c/sample.txt") >"$c/writ.txt" 2>&1 || true
    # shellcheck disable=SC2046
    node "$here/ref_corpus.mjs" --root "$c" --time $(cat "$c/sample.txt") >"$c/ref.txt" 2>&1 || true
    tl() { sed -n "s/.*decision time: median \([0-9]*\) ns, p99 \([0-9]*\) ns.*/\\$1/p" "$2"; }
    wm=$(tl 1 "$c/writ.txt") wp=$(tl 2 "$c/writ.txt") rm_=$(tl 1 "$c/ref.txt") rp=$(tl 2 "$c/ref.txt")
    rows="$rows$(printf '%-14s %10s %10s %10s %10s %12s %12s %9s %9s %6s %s' "corpus-$sample" "${wm:--}" "${wp:--}" "-" "-" \
        "${rm_:--}" "${rp:--}" "$(ratio "${rm_:-0}" "${wm:-0}")" "$(ratio "${rp:-0}" "${wp:-0}")" "-" \
        "writ: $(grep -m1 'passed' "$c/writ.txt" || echo '?'); ref: $(grep -m1 'passed' "$c/ref.txt" || echo '?')")
"
fi

echo "ns per decision (median / p99 over requests); writ+parse includes writ_request_parse"
printf '%-14s %10s %10s %10s %10s %12s %12s %9s %9s %6s %s\n' set writ-med writ-p99 w+parse-med writ-dec/s \
    wasm-med wasm-p99 ratio-med ratio-p99 allows agreement
printf '%s' "$rows"
if [ "$disagree" -ne 0 ]; then
    echo "DISAGREEMENTS between Writ and cedar-wasm in $disagree set(s): see $out/agents-*/diff.txt"
    exit 1
fi
