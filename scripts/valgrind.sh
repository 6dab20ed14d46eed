#!/usr/bin/env bash
# valgrind.sh BUILD_DIR - run the unit tests and a conformance slice under
# valgrind memcheck (release build, no sanitizers): any error or definite
# leak fails.  Registered as the ctest `valgrind` in non-sanitizer builds.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
bin=$(cd "$1" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
status=0
for t in test_parser test_eval test_ext test_json test_schema test_reqbuild test_validate test_oom_paths; do
    # a missing binary is a failure, not a test that quietly did not run
    [ -x "$bin/$t" ] || { echo "valgrind: $bin/$t missing" >&2; status=1; continue; }
    if ! (cd "$repo" && "${vg[@]}" "$bin/$t" >/tmp/writ-valgrind.$$ 2>&1); then
        tail -n 40 /tmp/writ-valgrind.$$ >&2
        echo "valgrind: $t failed" >&2
        status=1
    else
        echo "valgrind: $t clean"
    fi
done
rm -f /tmp/writ-valgrind.$$
out=$(cd "$repo/tests/data/cedar" && "${vg[@]}" "$bin/writ" conformance --root . tests 2>&1)
rc=$?
echo "valgrind: conformance (hand-written): $(printf '%s\n' "$out" | tail -n 1)"
[ $rc -eq 0 ] || { printf '%s\n' "$out" | tail -n 40 >&2; status=1; }
exit $status
