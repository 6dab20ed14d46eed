#!/usr/bin/env bash
# fuzz.sh NAME SECONDS - build the libFuzzer build (build/fuzz, clang) and run
# fuzz/fuzz_NAME.c for SECONDS seconds on its corpus fuzz/corpus/NAME.
#
# New interesting inputs are added to the corpus folder; commit the small ones
# so every test run replays them (ctest fuzz_replay_NAME).  A crash is saved as
# fuzz/corpus/NAME/../crash-* in the current directory by libFuzzer: add it to
# the corpus once fixed.  Extra libFuzzer flags may follow, e.g. -runs=1000.
#
# Inputs go up to -max_len=$WRIT_FUZZ_MAX_LEN (default 131072) bytes unless a
# -max_len flag is given: libFuzzer's default, the largest seed, would never
# reach the 100 KB operator chains and deep nesting the limits are about.
# fuzz/NAME.dict, when there is one, is the target's dictionary (int64
# extremes, escapes and chain tokens for the Cedar targets).
set -euo pipefail

usage() {
    echo "usage: $0 NAME SECONDS [libFuzzer flags...]" >&2
    echo "targets:" $(cd "$(dirname "$0")/../fuzz" && ls fuzz_*.c 2>/dev/null | sed 's/^fuzz_//; s/\.c$//') >&2
    exit 2
}
[ $# -ge 2 ] || usage
name=$1 seconds=$2; shift 2
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f "fuzz/fuzz_$name.c" ] || { echo "fuzz.sh: no target fuzz/fuzz_$name.c" >&2; usage; }

. scripts/deps.sh
install_deps cmake clang libclang-rt-14-dev pkg-config libjansson-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev

cmake -S . -B build/fuzz -DWRIT_FUZZ=ON -DWRIT_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build/fuzz -j "${WRIT_JOBS:-2}" --target "fuzz_$name" >/dev/null

corpus="fuzz/corpus/$name"
mkdir -p "$corpus"
dict=()
[ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
maxlen=(-max_len="${WRIT_FUZZ_MAX_LEN:-131072}")
for a in "$@"; do
    case "$a" in -max_len=*) maxlen=() ;; esac
done
exec "build/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    "${maxlen[@]}" "${dict[@]}" "$@" "$corpus"
