#!/usr/bin/env bash
# test.sh - Writ's test command: install what is missing, build, run every test.
#
#   scripts/test.sh            release build (build/release) and ASan+UBSan build (build/asan)
#   scripts/test.sh --quick    release build only
#   scripts/test.sh --long     also the long differential runs (exports WRIT_LONG=1)
#
# Runs on a fresh Debian 12 machine as root (or through sudo).  Ends with one
# line "N passed, N failed" counting the ctest tests of every build, and exits
# non-zero when anything failed.
set -uo pipefail

quick=0
export WRIT_LONG=${WRIT_LONG:-0}
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --long) WRIT_LONG=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
jobs=${WRIT_JOBS:-2}

total_passed=0
total_failed=0
finish() {
    echo "$total_passed passed, $total_failed failed"
    [ "$total_failed" -eq 0 ] && [ "${setup_failed:-0}" -eq 0 ]
    exit $?
}
setup_failed=0
fail_setup() {   # a step that is not a ctest test failed: count it and stop
    echo "test.sh: $*" >&2
    setup_failed=1
    total_failed=$((total_failed + 1))
    finish
}

# ---- dependencies
# shellcheck source=scripts/deps.sh
. "$repo/scripts/deps.sh"
install_deps cmake gcc clang pkg-config libjansson-dev libcmocka-dev libssl-dev libsqlite3-dev \
    libmicrohttpd-dev libgnutls28-dev nodejs:node npm:npm valgrind curl openssl jq sqlite3 nginx-light:nginx wrk || fail_setup "installing packages failed"

# ---- test peers (the reference Cedar engine and friends, for differential tests)
if [ -f tests/peers/package.json ]; then
    echo "== npm (tests/peers)"
    if [ -f tests/peers/package-lock.json ]; then npm_cmd=(npm ci); else npm_cmd=(npm install); fi
    if ! (cd tests/peers && "${npm_cmd[@]}" --no-audit --no-fund --loglevel=error >/dev/null); then
        fail_setup "${npm_cmd[*]} in tests/peers failed"
    fi
fi

# ---- builds
# build_and_test NAME CMAKE-ARGS...: configure build/NAME, build, run ctest, add up.
build_and_test() {
    local name=$1; shift
    local dir="build/$name" log
    echo "== $name build ($dir)"
    if ! cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1; then
        cat "$dir.configure.log" >&2
        fail_setup "$name: cmake configure failed"
    fi
    if ! cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1; then
        grep -E -B2 -A6 'error|Error' "$dir.build.log" | head -n 80 >&2
        fail_setup "$name: build failed (full log: $dir.build.log)"
    fi
    echo "== $name tests"
    log=$(mktemp)
    (cd "$dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
    # ctest closes with "NN% tests passed, F tests failed out of T".
    local line failed total
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        if grep -q 'No tests were found' "$log"; then
            rm -f "$log"; echo "test.sh: $name: no tests" >&2; return
        fi
        rm -f "$log"
        fail_setup "$name: ctest did not report a result"
    fi
    rm -f "$log"
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    total_passed=$((total_passed + total - failed))
    total_failed=$((total_failed + failed))
}

mkdir -p build
build_and_test release -DCMAKE_BUILD_TYPE=Release
if [ "$quick" -eq 0 ]; then
    build_and_test asan -DCMAKE_BUILD_TYPE=Debug -DWRIT_SANITIZE=ON
fi
finish
