#!/usr/bin/env bash
# interop.sh WRIT_BINARY - Writ tokens <-> jose (Node) in both directions.
# Needs node and tests/peers/node_modules (scripts/test.sh runs npm ci there);
# WRIT_PEERS may point at another tests/peers directory.  Exit 77 = skipped.
set -euo pipefail
writ=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peers=${WRIT_PEERS:-$here/../peers}
if ! command -v node >/dev/null; then echo "interop: SKIPPED, node not installed" >&2; exit 77; fi
if [ ! -d "$peers/node_modules/jose" ]; then
    echo "interop: SKIPPED, $peers/node_modules/jose missing (run npm ci in tests/peers)" >&2; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node "$here/interop.mjs" "$writ" "$(realpath "$peers")" "$tmp"
