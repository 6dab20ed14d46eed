#!/usr/bin/env bash
# test.sh - Writ's test command: install what is missing, build, run every test.
#
#   scripts/test.sh            release build (build/release) and ASan+UBSan build (build/asan)
#   scripts/test.sh --quick    release build only
#   scripts/test.sh --long     also the long differential runs (exports WRIT_LONG=1)
#
# Runs on a fresh Debian 12 machine as root (or through sudo).  Ends with one
# line "N passed, N failed, N skipped" counting the ctest tests of every build.
# Exits non-zero when anything failed, and also when any test was skipped: the
# CI machine has every tool installed, so a skip there means a test did not
# run.  WRIT_ALLOW_SKIP=1 (for a developer machine without, say, nginx) lets
# skips through; they are still counted and listed.
set -uo pipefail

quick=0
export WRIT_LONG=${WRIT_LONG:-0}
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --long) WRIT_LONG=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
jobs=${WRIT_JOBS:-2}

total_passed=0
total_failed=0
total_skipped=0
skipped_names=()
finish() {
    local rc=0
    [ "$total_failed" -eq 0 ] && [ "${setup_failed:-0}" -eq 0 ] || rc=1
    if [ "$total_skipped" -gt 0 ]; then
        echo "test.sh: skipped (each a test that did not run):" >&2
        printf '    %s\n' "${skipped_names[@]}" >&2
        if [ "${WRIT_ALLOW_SKIP:-0}" = 1 ]; then
            echo "test.sh: WRIT_ALLOW_SKIP=1: skips do not fail this run" >&2
        else
            echo "test.sh: a skipped test fails the run (set WRIT_ALLOW_SKIP=1 to allow skips)" >&2
            rc=1
        fi
    fi
    echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
    exit $rc
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
install_deps cmake gcc clang libclang-rt-14-dev pkg-config libjansson-dev libcmocka-dev libssl-dev libsqlite3-dev \
    libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev nodejs:node npm:npm valgrind curl openssl jq sqlite3 nginx-light:nginx wrk \
    perl:perl tar:tar iproute2:ss python3:python3 python3-pytest binutils:nm chromium:chromium \
    libhiredis-dev redis-server:redis-server libpq-dev postgresql || fail_setup "installing packages failed"

# ---- test peers (the reference Cedar engine and friends, for differential tests)
# A python3 found first in PATH may be a version manager's shim (pyenv's is a
# shell script that costs ~0.3 s per start; the tests start python3 a few
# hundred times).  The interpreter it picks is resolved once and put first.
if py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$py" ] &&
    [ "$(command -v python3)" != "$py" ]; then
    mkdir -p build/bin && ln -sfn "$py" build/bin/python3 && export PATH="$repo/build/bin:$PATH"
fi

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
    # ctest closes with "NN% tests passed, F tests failed out of T", where T
    # counts skipped tests (SKIP_RETURN_CODE 77, SKIP_REGULAR_EXPRESSION) as
    # passed; they are listed after "The following tests did not run:" as
    # "  N - NAME (Skipped)" (or "(Disabled)", which T does not count).
    # A test that could not start ("Not Run") is among the F failures.
    local line failed total skipped disabled names
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        if grep -q 'No tests were found' "$log"; then
            rm -f "$log"; fail_setup "$name: no tests"
        fi
        rm -f "$log"
        fail_setup "$name: ctest did not report a result"
    fi
    names=$(sed -n '/^The following tests did not run:/,/^[^[:space:]]/p' "$log" |
        sed -nE 's/^[[:space:]]+[0-9]+ - (.*) \((Skipped|Disabled)\)$/\2 \1/p')
    rm -f "$log"
    skipped=$(grep -c '^Skipped ' <<<"$names")
    disabled=$(grep -c '^Disabled ' <<<"$names")
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    total_passed=$((total_passed + total - failed - skipped))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped + disabled))
    while read -r why test; do
        [ -n "$test" ] && skipped_names+=("$name: $test ($why)")
    done <<<"$names"
}

mkdir -p build
build_and_test release -DCMAKE_BUILD_TYPE=Release
if [ "$quick" -eq 0 ]; then
    # clang: its UBSan also catches pointer arithmetic on NULL (NULL + 0),
    # which gcc's does not (issue 8: the fuzz targets aborted on it)
    build_and_test asan -DCMAKE_BUILD_TYPE=Debug -DWRIT_SANITIZE=ON -DCMAKE_C_COMPILER=clang
fi
finish
