#!/usr/bin/env bash
# start.sh - install what is missing, build the release binary if needed, and
# run Writ's main job on the embedded defaults (the examples/ folder).
#
# Until `writ serve` exists the main job decides each example agent request in
# examples/requests/ and prints it with its decision.  main_job below is the
# one place to change when the server lands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

. scripts/deps.sh
install_deps cmake gcc pkg-config libjansson-dev libcmocka-dev libssl-dev libsqlite3-dev libmicrohttpd-dev

writ="$repo/build/release/writ"
build() {
    echo "== building build/release" >&2
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j "${WRIT_JOBS:-2}" --target writ >/dev/null
}
# Rebuild when the binary is missing or older than any source.
if [ ! -x "$writ" ] || [ -n "$(find src include CMakeLists.txt -newer "$writ" -print -quit)" ]; then
    build
fi

# The embedded defaults.
policies="$repo/examples/policies.cedar"
entities="$repo/examples/entities.json"
schema="$repo/examples/schema.cedarschema"

main_job() {
    # Later: exec "$writ" serve --policies "$policies" --entities "$entities" --schema "$schema" "$@"
    local rq status=0 answer
    for rq in "$repo"/examples/requests/[0-9]*.json; do
        echo "request $(basename "$rq" .json): $(tr -s ' \n' ' ' <"$rq")"
        # A deny may come with a non-zero exit status; only no answer is an error.
        answer=$("$writ" authorize --policies "$policies" --entities "$entities" \
            --schema "$schema" --request "$rq") || true
        if [ -n "$answer" ]; then
            echo "decision: $answer"
        else
            echo "decision: error: writ authorize gave no answer"
            status=1
        fi
        echo
    done
    return $status
}

main_job "$@"
