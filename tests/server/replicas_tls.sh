#!/usr/bin/env bash
# replicas_tls.sh - three `writ serve` replicas sharing their state through a
# real redis-server that speaks TLS only (state = rediss://..., src/store/redis_tls.c):
#   - a CA, a server certificate for 127.0.0.1 and a client certificate made
#     here with openssl; Redis on a TLS port only (--port 0), client
#     certificates required (tls-auth-clients), a password;
#   - a revocation on one replica refused on the two others within a second
#     (20 revocations, measured), and `writ revoke --state rediss://...`;
#   - approvals (8 concurrent identical requests over the three replicas
#     consume one approval once) and a limit counted across replicas;
#   - kill -9 of Redis: the replicas fail closed after state_stale_after;
#     Redis restarted on its append-only file: they reconnect over TLS, catch
#     up, and a new revocation still travels;
#   - refused, failing closed with a clear error in the log, /healthz 503 and
#     401 for tokens: a wrong CA, a host name the certificate does not name,
#     no client certificate, plain redis:// against the TLS port;
#   - malformed rediss:// URLs: serve refuses to start, the byte named.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { bad "redis-server installed (scripts/test.sh installs it)"; finish; }
command -v openssl >/dev/null || { bad "openssl installed"; finish; }
command -v python3 >/dev/null || { bad "python3 installed"; finish; }
command -v jq >/dev/null || { bad "jq installed"; finish; }

# ---- certificates: a CA, Redis' certificate (127.0.0.1), a client's, another CA
P="$TMP/pki"
mkdir -p "$P"
mkca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.pem" \
        -days 2 -subj "/CN=$1" >/dev/null 2>&1
}
mkcert() { # mkcert NAME CA SAN
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" \
        -subj "/CN=$1" >/dev/null 2>&1 &&
        printf 'subjectAltName=%s\n' "$3" >"$P/$1.ext" &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -CAcreateserial -out "$P/$1.pem" \
            -days 2 -extfile "$P/$1.ext" >/dev/null 2>&1
}
mkca ca && mkca other-ca && mkcert redis ca IP:127.0.0.1 && mkcert client ca DNS:writ-replica ||
    { bad "certificates made with openssl"; finish; }

# ---- Redis on a TLS port only
STALE=2
rport=$(free_port)
mkdir -p "$TMP/redis"
head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$TMP/redis.pass"
rcli() {
    REDISCLI_AUTH=$(cat "$TMP/redis.pass") redis-cli --tls --cacert "$P/ca.pem" --cert "$P/client.pem" \
        --key "$P/client.key" -p "$rport" "$@" 2>/dev/null
}
start_redis() {
    redis-server --port 0 --tls-port "$rport" --bind 127.0.0.1 --dir "$TMP/redis" --save "" --appendonly yes \
        --appendfsync always --tls-cert-file "$P/redis.pem" --tls-key-file "$P/redis.key" \
        --tls-ca-cert-file "$P/ca.pem" --tls-auth-clients yes --requirepass "$(cat "$TMP/redis.pass")" \
        --daemonize no --loglevel warning >>"$TMP/redis/out.log" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    for _ in $(seq 50); do
        [ "$(rcli ping)" = PONG ] && return 0
        sleep 0.1
    done
    cat "$TMP/redis/out.log"
    bad "redis-server started with TLS (Debian's redis-server is built with it)"
    finish
}
start_redis
ok "redis-server answers on a TLS-only port"

# ---- three replicas on rediss://
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
admin_secret
cat >"$TMP/p.cedar" <<'CEDAR'
@id("read-all")
permit (principal, action == Writ::Action::"read", resource);

@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service);

@id("write-all")
permit (principal, action == Writ::Action::"write", resource);

@id("writes-per-task")
forbid (principal, action == Writ::Action::"write", resource)
when { context.history.writes_per_task >= 3 };
CEDAR
echo '[{"uid":{"type":"Writ::Dataset","id":"usage-metrics"},"attrs":{"sensitivity":1},"parents":[]}]' >"$TMP/e.json"
common() { # common STATE_URL: the settings every replica of this test shares
    cat <<CONF
policies = $TMP/p.cedar
entities = $TMP/e.json
token_keys = $TMP/k.pem
admin_token_file = $TMP/admin.secret
state = $1
state_password_file = $TMP/redis.pass
state_stale_after = $STALE
public_url = https://writ.example/
limit = writes_per_task 1h write per task
route = GET /datasets/{id} read Dataset {id}
CONF
}
{
    common "rediss://127.0.0.1:$rport/0"
    echo "state_tls_ca = $P/ca.pem"
    echo "state_tls_cert = $P/client.pem"
    echo "state_tls_key = $P/client.key"
} >"$TMP/writ.conf"
declare -a ADDRS RPIDS
for i in 0 1 2; do
    start_writ "r$i" --config "$TMP/writ.conf" --replica "r$i"
    ADDRS[$i]=$ADDR
    RPIDS[$i]=$WPID
done
contains "the log names the rediss:// state" "$(cat "$TMP/r0.log")" "shared state redis (rediss://127.0.0.1:$rport/0)"
m=$(curl -s -m 5 "http://${ADDRS[1]}/metrics")
contains "fresh over TLS" "$m" "writ_state_stale 0"
r=$(ADDR=${ADDRS[2]} req GET /healthz)
check "healthz 200 over TLS" "${r%% *}" 200
clients=$(rcli client list | grep -c .)
[ "${clients:-0}" -ge 3 ] && ok "Redis sees the replicas' TLS connections ($clients)" || bad "Redis sees $clients clients"

mint() { # mint [TXN]
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/analyst" --purpose weekly-report --action read \
        --resource 'usage-*' --sensitivity confidential --ttl 900 ${1:+--txn "$1"}
}
N=20
for i in $(seq $((N + 4))); do mint; done >"$TMP/tokens"
[ "$(wc -l <"$TMP/tokens")" -eq $((N + 4)) ] || { bad "minted $((N + 4)) tokens"; finish; }
head -n $N "$TMP/tokens" >"$TMP/revoked"
tail -n 4 "$TMP/tokens" >"$TMP/kept"
KEEP=$(head -n 1 "$TMP/kept")
get() { ADDR=$1 req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $2"; }
r=$(get "${ADDRS[0]}" "$KEEP")
contains "a task token over rediss:// state: allowed" "$r" "200 {"

# ---- revocations made on one replica, awaited on the two others
cat >"$TMP/propagate.py" <<'PY'
import http.client, sys, time
addrs, tokfile, admin = sys.argv[1].split(","), sys.argv[2], open(sys.argv[3]).read().strip()
def call(addr, method, path, body=None, headers={}):
    h, p = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=5)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); r.read(); c.close()
    return r.status
lat, fails = [], []
for i, tok in enumerate(l.strip() for l in open(tokfile)):
    auth = {"Authorization": "Bearer " + tok}
    src = i % len(addrs)
    for a in addrs:
        if call(a, "GET", "/authz/check/datasets/usage-metrics", headers=auth) != 200:
            fails.append("token %d refused on %s before its revocation" % (i, a))
    st = call(addrs[src], "POST", "/oauth2/revoke", "token=" + tok,
              {"Authorization": "Bearer " + admin, "Content-Type": "application/x-www-form-urlencoded"})
    t0 = time.monotonic()
    if st != 200:
        fails.append("revoke %d on %s: %d" % (i, addrs[src], st)); continue
    for j, a in enumerate(addrs):
        if j == src:
            continue
        while True:
            if call(a, "GET", "/authz/check/datasets/usage-metrics", headers=auth) == 401:
                lat.append((time.monotonic() - t0) * 1000); break
            if time.monotonic() - t0 > 3:
                fails.append("token %d still allowed on %s after 3 s" % (i, a)); break
            time.sleep(0.002)
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("nan")
print("propagation over TLS, %d (revocation, other replica) pairs: p50 %.1f ms  max %.1f ms" % (len(lat), q(0.5), lat[-1] if lat else float("nan")))
for f in fails[:10]:
    print("FAIL " + f)
print("RESULT %d %d %.1f" % (len(fails), len(lat), lat[-1] if lat else 1e9))
PY
out=$(python3 "$TMP/propagate.py" "${ADDRS[0]},${ADDRS[1]},${ADDRS[2]}" "$TMP/revoked" "$TMP/admin.secret")
echo "$out" | grep -v '^RESULT'
read -r nf nlat maxms <<<"$(echo "$out" | awk '/^RESULT/ {print $2, $3, $4}')"
check "$N revocations over TLS, no failures" "$nf" 0
check "every revocation seen on both other replicas" "$nlat" $((2 * N))
check "every one within one second" "$(awk -v m="$maxms" 'BEGIN {print (m < 1000) ? "yes" : "no (" m " ms)"}')" yes
check "Redis holds them (read with redis-cli --tls)" "$(rcli hlen writ:rev)" "$N"

# `writ revoke --state rediss://...` from outside the replicas
tok=$(sed -n 4p "$TMP/kept")
jti=$("$WRIT" token inspect "$tok" 2>/dev/null | jq -r .payload.jti)
"$WRIT" revoke --state "rediss://127.0.0.1:$rport/0" --state-password-file "$TMP/redis.pass" \
    --state-tls-ca "$P/ca.pem" --state-tls-cert "$P/client.pem" --state-tls-key "$P/client.key" \
    --jti "$jti" 2>"$TMP/revoke.err"
check "writ revoke --state rediss://: exit 0" "$?" 0
got=0
for _ in $(seq 20); do
    n=0
    for i in 0 1 2; do r=$(get "${ADDRS[$i]}" "$tok"); [ "${r%% *}" = 401 ] && n=$((n + 1)); done
    [ "$n" = 3 ] && { got=1; break; }
    sleep 0.05
done
check "writ revoke --state rediss://: refused on all three within a second" "$got" 1
echo "$tok" >>"$TMP/revoked"
"$WRIT" revoke --state "rediss://127.0.0.1:$rport/0" --state-password-file "$TMP/redis.pass" \
    --state-tls-ca "$P/ca.pem" --jti x 2>"$TMP/revoke.err"
check "writ revoke without the client certificate: exit 1" "$?" 1
contains "the reason: a client certificate is required" "$(cat "$TMP/revoke.err")" \
    "TLS: the server requires a client certificate (state_tls_cert, state_tls_key)"

# ---- approvals and limits across replicas, over TLS
code() { echo "${1%% *}"; }
body() { echo "${1#* }"; }
at() { ADDR=${ADDRS[$1]} post "$2" "$3"; }
DEPLOY='{"subject":{"type":"Agent","id":"ci-bot"},"action":{"name":"deploy"},"resource":{"type":"Service","id":"payments"},"context":{"task":{"id":"t1","purpose":"release"},"input":{"version":"1.2.3"}}}'
r=$(at 0 /access/v1/evaluation "$DEPLOY")
check "approval held on r0: pending" "$(body "$r" | jq -r .context.approval.status)" pending
A1=$(body "$r" | jq -r .context.approval.id)
r=$(at 1 /access/v1/evaluation "$DEPLOY")
check "the same pending approval on r1" "$(body "$r" | jq -r .context.approval.id)" "$A1"
r=$(ADDR=${ADDRS[2]} req POST "/approvals/$A1" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data '{"decision":"approve","reason":"ok"}')
check "approved on r2" "$(code "$r") $(body "$r" | jq -r .status)" "200 approved"
mkdir -p "$TMP/race"
CURLS=()
for i in $(seq 0 7); do
    curl -s -m 10 -X POST -H 'Content-Type: application/json' --data-binary "$DEPLOY" \
        "http://${ADDRS[$((i % 3))]}/access/v1/evaluation" >"$TMP/race/$i" &
    CURLS+=($!)
done
wait "${CURLS[@]}"
check "8 concurrent over 3 replicas: exactly one allowed" \
    "$(cat "$TMP"/race/* | jq -s '[.[] | select(.decision == true)] | length')" 1
r=$(ADDR=${ADDRS[0]} req GET "/approvals/$A1" -H "Authorization: Bearer $ADMIN")
check "the approval consumed" "$(body "$r" | jq -r .status)" consumed
write() { # write N TASK
    at "$1" /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"write\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"d\"},\"context\":{\"task\":{\"id\":\"$2\",\"purpose\":\"etl\"}}}"
}
seen=
for k in 0 1 2 3 4; do seen="$seen $(body "$(write $((k % 3)) w1)" | jq -r .decision)"; done
check "a limit counted across replicas over TLS: 3 allowed, then denied" "$seen" " true true true false false"

# ---- kill -9 of Redis: fail closed; back: reconnect over TLS and catch up
kill -9 "$RPID"
wait "$RPID" 2>/dev/null
keep=(); for p in "${PIDS[@]}"; do [ "$p" = "$RPID" ] || keep+=("$p"); done; PIDS=("${keep[@]}")
refused=
for _ in $(seq 100); do
    r=$(get "${ADDRS[0]}" "$KEEP")
    [ "${r%% *}" = 401 ] && { refused=1; break; }
    sleep 0.05
done
check "Redis killed: tokens refused after state_stale_after" "${refused:-no}" 1
contains "the reason names the shared state" "$r" "shared state (redis) silent"
# (each replica finds the state silent on its own clock: r1 a moment after r0)
for _ in $(seq 100); do
    r=$(ADDR=${ADDRS[1]} req GET /healthz)
    [ "${r%% *}" = 503 ] && break
    sleep 0.05
done
check "healthz 503 while Redis is away" "${r%% *}" 503
contains "the log says the feed is lost" "$(cat "$TMP/r1.log")" "state: revocation feed lost"
start_redis
back=
for _ in $(seq 60); do
    r=$(get "${ADDRS[0]}" "$KEEP")
    [ "${r%% *}" = 200 ] && { back=1; break; }
    sleep 0.1
done
check "Redis back: answering again (reconnected over TLS)" "${back:-no}" 1
contains "the log says the feed is back" "$(cat "$TMP/r0.log")" "state: revocation feed back"
still=0 total=0
for i in 0 1 2; do
    while read -r t; do
        total=$((total + 1))
        r=$(get "${ADDRS[$i]}" "$t")
        [ "${r%% *}" = 401 ] && still=$((still + 1))
    done <"$TMP/revoked"
done
check "every token revoked before is still refused (3 replicas x $((N + 1)))" "$still" "$total"
tok=$(sed -n 2p "$TMP/kept")
r=$(ADDR=${ADDRS[1]} req POST /oauth2/revoke --data-urlencode "token=$tok" -H "Authorization: Bearer $ADMIN")
check "a revocation after the reconnect: 200" "${r%% *}" 200
got=
for _ in $(seq 20); do
    r0=$(get "${ADDRS[0]}" "$tok"); r2=$(get "${ADDRS[2]}" "$tok")
    [ "${r0%% *} ${r2%% *}" = "401 401" ] && { got=1; break; }
    sleep 0.05
done
check "... travels to the others within a second" "${got:-no}" 1

# ---- refused: each fails closed, with its reason in the log
# refused NAME EXPECT [SETTINGS...]: a replica with the common settings plus
# these; its tokens get 401, /healthz 503, and its log says EXPECT
refused() {
    local name=$1 expect=$2 url=$3
    shift 3
    { common "$url"; printf '%s\n' "$@"; } >"$TMP/$name.conf"
    start_writ "$name" --config "$TMP/$name.conf" --replica "$name"
    local pid=$WPID a=$ADDR
    r=$(get "$a" "$KEEP")
    check "$name: a token is refused (fail closed)" "${r%% *}" 401
    r=$(ADDR=$a req GET /healthz)
    check "$name: healthz 503" "${r%% *}" 503
    contains "$name: the log gives the reason" "$(cat "$TMP/$name.log")" "$expect"
    stop_writ "$pid"
}
refused wrongca "TLS: the server's certificate is not trusted (" "rediss://127.0.0.1:$rport/0" \
    "state_tls_ca = $P/other-ca.pem" "state_tls_cert = $P/client.pem" "state_tls_key = $P/client.key"
contains "wrongca: the CA file is named" "$(cat "$TMP/wrongca.log")" "CAs from state_tls_ca $P/other-ca.pem)"
refused hostname "TLS: the server's certificate is not for localhost (host name mismatch)" \
    "rediss://localhost:$rport/0" "state_tls_ca = $P/ca.pem" "state_tls_cert = $P/client.pem" \
    "state_tls_key = $P/client.key"
refused nocert "TLS: the server requires a client certificate" "rediss://127.0.0.1:$rport/0" "state_tls_ca = $P/ca.pem"
refused plain "state: redis" "redis://127.0.0.1:$rport/0"
contains "plain: the feed never loaded" "$(cat "$TMP/plain.log")" "cannot load the revocations yet"
contains "plain: the log suggests rediss://" "$(cat "$TMP/plain.log")" "is this a TLS port? then use rediss://"

# ---- bad settings: serve refuses to start, saying why
bad_start() { # bad_start NAME EXPECT ARGS...
    local name=$1 expect=$2
    shift 2
    "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/$name.state" --policies "$TMP/p.cedar" \
        --entities "$TMP/e.json" --token_keys "$TMP/k.pem" "$@" >"$TMP/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"; wait "$pid" 2>/dev/null
        bad "$name: serve started"
        return
    fi
    wait "$pid"
    check "$name: serve refuses to start" "$?" 1
    contains "$name: the reason" "$(cat "$TMP/$name.log")" "$expect"
}
bad_start url-port "bad state URL at byte 20: port must be 1..65535 (expected rediss://" --state "rediss://127.0.0.1:0"
bad_start url-host "bad state URL at byte 10: host name must be 1..255 bytes" --state "rediss://:$rport"
bad_start url-db "bad state URL at byte 25: database must be a number" --state "rediss://127.0.0.1:6379/db"
bad_start tls-plain "state_tls_ca, state_tls_cert and state_tls_key are for a rediss:// state only" \
    --state "redis://127.0.0.1:$rport" --state_tls_ca "$P/ca.pem"
bad_start tls-cafile "state_tls_ca $TMP/nope.pem" --state "rediss://127.0.0.1:$rport" --state_tls_ca "$TMP/nope.pem"
bad_start tls-key "state_tls_cert needs state_tls_key" --state "rediss://127.0.0.1:$rport" \
    --state_tls_cert "$P/client.pem"
bad_start tls-mismatch "state_tls_key is not the key of state_tls_cert" --state "rediss://127.0.0.1:$rport" \
    --state_tls_cert "$P/client.pem" --state_tls_key "$P/redis.key"
finish
