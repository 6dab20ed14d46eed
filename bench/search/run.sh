#!/usr/bin/env bash
# bench/search/run.sh WRIT [N] - a resource search over a generated store of
# N entities (default 10,000; tests/search/gen_entities.py, fixed seed)
# against brute force (--exhaustive: every entity of the type decided one by
# one), with the example policies and schema.  Each line: the search, the
# candidates, how many were decided, the mean time of each way (the fastest of
# --repeat runs after one warm-up, in-process: the machine may be busy), and the ratio.  Short: a few seconds.
set -euo pipefail
WRIT=${1:?usage: $0 path/to/writ [N]}
N=${2:-10000}
HERE=$(cd "$(dirname "$0")" && pwd)
EX="$HERE/../../examples"
TMP=$(mktemp -d /tmp/writ-bench-search.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 "$HERE/../../tests/search/gen_entities.py" "$N" --seed 11 >"$TMP/e.json"
CTX='"context":{"task":{"id":"t1","purpose":"bugfix"},"chain_depth":0,"destination":"internal","time":{"__extn":{"fn":"datetime","arg":"2025-06-02T14:05:00Z"}},"source_ip":{"__extn":{"fn":"ip","arg":"10.20.0.7"}}}'
agent() { jq -r --argjson t "$1" 'first(.[] | select(.uid.type == "Writ::Agent" and .attrs.trust_level == $t and (.parents | length) == 1)) | .uid.id' "$TMP/e.json"; }
FILES=(--policies "$EX/policies.cedar" --schema "$EX/schema.cedarschema" --entities "$TMP/e.json" --namespace Writ)
REP=${REPEAT:-20}
printf '%-34s %10s %8s %12s %12s %7s\n' search candidates decided "pruned ms" "brute ms" ratio
for q in "read Dataset 4" "write Ticket 3" "write Repo 5" "invoke Tool 2" "delegate Agent 4"; do
    set -- $q
    body="{\"subject\":{\"type\":\"Agent\",\"id\":\"$(agent "$3")\"},\"action\":{\"name\":\"$1\"},\"resource\":{\"type\":\"$2\"},$CTX}"
    a=$("$WRIT" query resource "${FILES[@]}" --body "$body" --stats --repeat "$REP" 2>&1 >/dev/null)
    b=$("$WRIT" query resource "${FILES[@]}" --body "$body" --stats --repeat "$REP" --exhaustive 2>&1 >/dev/null)
    ta=$(sed -n 's/.*fastest \([0-9.]*\) ms.*/\1/p' <<<"$a"); tb=$(sed -n 's/.*fastest \([0-9.]*\) ms.*/\1/p' <<<"$b")
    c=$(sed -n 's/.*: \([0-9]*\) candidates.*/\1/p' <<<"$a"); d=$(sed -n 's/.* \([0-9]*\) decided.*/\1/p' <<<"$a")
    printf '%-34s %10s %8s %12s %12s %6.1fx\n' "$1 $2 (trust $3)" "$c" "$d" "$ta" "$tb" "$(echo "if ($ta > 0) $tb / $ta else 0" | bc -l)"
done
