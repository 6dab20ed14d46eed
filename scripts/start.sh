#!/usr/bin/env bash
# start.sh - install what is missing, build the release binary if needed, and
# run Writ's main job on the example files (the examples/ folder), passed
# explicitly: `writ serve` has no default policies.
#
# The main job is `writ serve` (AuthZEN on 127.0.0.1:8180); SIGINT/SIGTERM stop
# it cleanly.  main_job below is the one place to change what runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

. scripts/deps.sh
install_deps cmake gcc pkg-config libjansson-dev libcmocka-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev

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

# The example set.
policies="$repo/examples/policies.cedar"
entities="$repo/examples/entities.json"
schema="$repo/examples/schema.cedarschema"

main_job() {
    # The HTTP decision point on the examples/ policies, entities and schema
    # (127.0.0.1:8180, state in ./writ-state).  Extra arguments are settings,
    # e.g. --listen 127.0.0.1:9000 or --config examples/writ.conf.
    local addr=127.0.0.1:8180 a prev=
    for a in "$@"; do   # the address a --listen among the settings gives
        case "$prev" in --listen) addr=$a ;; esac
        case "$a" in --listen=*) addr=${a#--listen=} ;; esac
        prev=$a
    done
    echo "== writ serve: try  curl -s -XPOST -H 'Content-Type: application/json' \\"
    echo "     -d @examples/authzen/analyst-reads-metrics.json http://$addr/access/v1/evaluation"
    exec "$writ" serve --policies "$policies" --entities "$entities" --schema "$schema" "$@"
}

main_job "$@"
