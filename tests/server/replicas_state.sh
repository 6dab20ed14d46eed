#!/usr/bin/env bash
# replicas_state.sh - three `writ serve` replicas sharing their state through
# a real redis-server (state = redis://...), nginx in front:
#   - a revocation on one replica refuses the token on each other one within
#     one second, measured over 100 revocations (p50/p99/max printed);
#   - kill -9 of one replica under load through nginx: every request is
#     still answered, and the two others answer directly;
#   - kill -9 of Redis: the replicas keep answering from memory until
#     state_stale_after, then refuse every task token (401 with the reason,
#     a metric, /healthz 503); a revocation cannot be shared (503);
#   - Redis restarted on its append-only file: the replicas catch up, and
#     every token revoked before is still refused, also by a replica
#     started afresh (it learns them from Redis alone);
#   - Redis restarted without its data: the replicas running put back what
#     they know, so a replica started afterwards refuses those tokens too;
#   - the same with every replica stopped: a replica started again puts
#     back its local copy (STATE_DIR/writ.db).
# Approvals and limits across replicas: tests/server/replicas_limits.sh.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { bad "redis-server installed (scripts/test.sh installs it)"; finish; }
command -v python3 >/dev/null || { bad "python3 installed"; finish; }

STALE=2   # state_stale_after for this test (the default is 5)
rport=$(free_port)
mkdir -p "$TMP/redis"
head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$TMP/redis.pass"
start_redis() {
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$TMP/redis" --save "" --appendonly yes \
        --appendfsync everysec --requirepass "$(cat "$TMP/redis.pass")" --daemonize no --loglevel warning \
        >>"$TMP/redis/out.log" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    for _ in $(seq 50); do
        [ "$(REDISCLI_AUTH=$(cat "$TMP/redis.pass") redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    cat "$TMP/redis/out.log"; bad "redis-server started"; finish
}
start_redis

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
admin_secret
# a JWT-SVID issuer, for start_task while the state is stale (when node is here)
PEERS=${WRIT_PEERS:-$REPO/tests/peers}
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
IDLINE=
if command -v node >/dev/null && [ -d "$PEERS/node_modules/jose" ] && peer keys "$TMP"; then
    IDLINE="identity_spiffe = corp.example $TMP/bundle.json"
fi
cat >"$TMP/writ.conf" <<CONF
$IDLINE
token_keys = $TMP/k.pem
admin_token_file = $TMP/admin.secret
state = redis://127.0.0.1:$rport/0
state_password_file = $TMP/redis.pass
state_stale_after = $STALE
route = GET /datasets/{id} read Dataset {id}
CONF
declare -a ADDRS RPIDS
for i in 0 1 2; do
    start_writ "r$i" "${EXFILES[@]}" --config "$TMP/writ.conf" --replica "r$i"
    ADDRS[$i]=$ADDR
    RPIDS[$i]=$WPID
done
contains "replica named in the log" "$(cat "$TMP/r1.log")" "replica r1: shared state redis"
m=$(curl -s -m 5 "http://${ADDRS[1]}/metrics")
contains "replica named in the metrics" "$m" 'writ_replica_info{replica="r1",state="redis"} 1'
contains "fresh" "$m" "writ_state_stale 0"

mint() {
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/analyst" --purpose weekly-report --action read \
        --resource 'usage-*' --sensitivity confidential --ttl 900
}
N=100
for i in $(seq $((N + 4))); do mint; done >"$TMP/tokens"
[ "$(wc -l <"$TMP/tokens")" -eq $((N + 4)) ] || { bad "minted $((N + 4)) tokens"; finish; }
head -n $N "$TMP/tokens" >"$TMP/revoked"
tail -n 4 "$TMP/tokens" >"$TMP/kept"
KEEP=$(head -n 1 "$TMP/kept")

# ---- 100 revocations, each made on one replica and awaited on the two others
cat >"$TMP/propagate.py" <<'PY'
import http.client, sys, time, json
addrs, tokfile, admin = sys.argv[1].split(","), sys.argv[2], open(sys.argv[3]).read().strip()
conns = {}
def get(addr, tok):
    for attempt in range(2):
        c = conns.get(addr)
        if c is None:
            h, p = addr.rsplit(":", 1)
            c = conns[addr] = http.client.HTTPConnection(h, int(p), timeout=5)
        try:
            c.request("GET", "/authz/check/datasets/usage-metrics", headers={"Authorization": "Bearer " + tok})
            r = c.getresponse()
            return r.status, r.read().decode()
        except (http.client.HTTPException, OSError):
            conns.pop(addr).close()
    raise SystemExit("cannot reach " + addr)
lat, fails, bodies = [], [], set()
for i, tok in enumerate(l.strip() for l in open(tokfile)):
    src = i % len(addrs)
    for a in addrs:
        st, _ = get(a, tok)
        if st != 200:
            fails.append("token %d not allowed on %s before revocation: %d" % (i, a, st))
    h, p = addrs[src].rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=5)
    c.request("POST", "/oauth2/revoke", body="token=" + tok,
              headers={"Authorization": "Bearer " + admin, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read(); c.close()
    t0 = time.monotonic()
    if r.status != 200:
        fails.append("revoke %d on %s: %d" % (i, addrs[src], r.status))
        continue
    for j, a in enumerate(addrs):
        if j == src:
            continue
        while True:
            st, body = get(a, tok)
            dt = time.monotonic() - t0
            if st == 401:
                lat.append(dt * 1000)
                bodies.add(json.loads(body).get("context", {}).get("errors", [{}])[0].get("message", "")[:60])
                break
            if dt > 3:
                fails.append("token %d still allowed on %s after 3 s" % (i, a))
                break
            time.sleep(0.002)
    st, _ = get(addrs[src], tok)
    if st != 401:
        fails.append("token %d not refused on its revoking replica: %d" % (i, st))
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("nan")
print("propagation over %d (revocation, other replica) pairs: p50 %.1f ms  p99 %.1f ms  max %.1f ms"
      % (len(lat), q(0.5), q(0.99), lat[-1] if lat else float("nan")))
print("refusal reasons seen: %s" % sorted(bodies))
for f in fails[:10]:
    print("FAIL " + f)
print("RESULT %d %d %.1f" % (len(fails), len(lat), lat[-1] if lat else 1e9))
PY
out=$(python3 "$TMP/propagate.py" "${ADDRS[0]},${ADDRS[1]},${ADDRS[2]}" "$TMP/revoked" "$TMP/admin.secret")
echo "$out" | grep -v '^RESULT'
read -r nf nlat maxms <<<"$(echo "$out" | awk '/^RESULT/ {print $2, $3, $4}')"
check "100 revocations, no failures" "$nf" 0
check "every revocation seen on both other replicas" "$nlat" $((2 * N))
check "every one within one second" "$(awk -v m="$maxms" 'BEGIN {print (m < 1000) ? "yes" : "no (" m " ms)"}')" yes
r=$(ADDR=${ADDRS[2]} req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(head -n 1 "$TMP/revoked")")
contains "a revoked token: 401 on another replica, as on one" "$r" '401 {"decision":false'
contains "named as revoked" "$r" "revoked (jti "

# `writ revoke --state`: from outside any replica
tok4=$(sed -n 4p "$TMP/kept")
"$WRIT" revoke --state "redis://127.0.0.1:$rport/0" --state-password-file "$TMP/redis.pass" \
    --jti "$("$WRIT" token inspect "$tok4" 2>/dev/null | jq -r .payload.jti)" 2>/dev/null || bad "writ revoke --state"
sleep 1
for i in 0 1 2; do
    r=$(ADDR=${ADDRS[$i]} req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok4")
    check "writ revoke --state: refused on r$i within a second" "${r%% *}" 401
done
echo "$tok4" >>"$TMP/revoked"
"$WRIT" revoke --state "redis://127.0.0.1:$rport/0" --jti x 2>"$TMP/noauth.err"
check "without the password: refused" "$?" 1
contains "the reason" "$(cat "$TMP/noauth.err")" "NOAUTH"

# ---- nginx in front; kill -9 of one replica under load
if command -v nginx >/dev/null; then
    gw=$(free_port)
    . "$REPO/scripts/nginx.sh"
    { nginx_head "$TMP/ngx" 1; cat <<CONF
    upstream writ {
        server ${ADDRS[0]} max_fails=1 fail_timeout=5s;
        server ${ADDRS[1]} max_fails=1 fail_timeout=5s;
        server ${ADDRS[2]} max_fails=1 fail_timeout=5s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$gw;
        location / {
            proxy_pass http://writ;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 1s;
        }
    }
}
CONF
    } >"$TMP/nginx.conf"
    nginx -t -c "$TMP/nginx.conf" -p "$TMP/ngx" >"$TMP/ngx/t.log" 2>&1 || { cat "$TMP/ngx/t.log"; bad "nginx config"; finish; }
    nginx -c "$TMP/nginx.conf" -p "$TMP/ngx" -g 'daemon off;' >"$TMP/ngx/out.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$gw/healthz" && break; sleep 0.1; done
    GW=127.0.0.1:$gw
else
    echo "note: nginx not installed: the load goes to the replicas directly"
    GW=
fi
cat >"$TMP/load.py" <<'PY'
import http.client, sys, threading, time
targets, tok, secs = sys.argv[1].split(","), sys.argv[2], float(sys.argv[3])
res = {"ok": 0, "other": {}, "err": 0}
lock = threading.Lock()
def worker(addr):
    h, p = addr.rsplit(":", 1)
    c = None
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if c is None:
                c = http.client.HTTPConnection(h, int(p), timeout=5)
            c.request("GET", "/authz/check/datasets/usage-metrics", headers={"Authorization": "Bearer " + tok})
            r = c.getresponse(); r.read()
            with lock:
                if r.status == 200: res["ok"] += 1
                else: res["other"][r.status] = res["other"].get(r.status, 0) + 1
        except (http.client.HTTPException, OSError):
            with lock: res["err"] += 1
            c = None
ts = [threading.Thread(target=worker, args=(a,)) for a in targets for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print("%d %d %d %s" % (res["ok"], sum(res["other"].values()), res["err"], res["other"]))
PY
# load on the gateway (or each replica) and, separately, on the two that live
if [ -n "$GW" ]; then
    python3 "$TMP/load.py" "$GW" "$KEEP" 4 >"$TMP/load.gw" &
    LGW=$!
fi
python3 "$TMP/load.py" "${ADDRS[0]},${ADDRS[1]}" "$KEEP" 4 >"$TMP/load.direct" &
LDIRECT=$!
sleep 1.5
kill -9 "${RPIDS[2]}"
wait "${RPIDS[2]}" 2>/dev/null
keep=(); for p in "${PIDS[@]}"; do [ "$p" = "${RPIDS[2]}" ] || keep+=("$p"); done; PIDS=("${keep[@]}")
wait "$LDIRECT"
read -r ok other err rest <"$TMP/load.direct"
echo "direct to the two others while r2 was killed: $ok answered 200, $other other, $err errors"
check "the other replicas keep answering (no errors)" "$other $err" "0 0"
[ "$ok" -gt 100 ] && ok "the other replicas answered $ok requests" || bad "too few answers: $ok"
if [ -n "$GW" ]; then
    wait "$LGW"
    read -r ok other err rest <"$TMP/load.gw"
    echo "through nginx while r2 was killed: $ok answered 200, $other other ($rest), $err errors"
    check "through nginx every request is answered 200" "$other $err" "0 0"
fi

# ---- kill -9 of Redis: fail closed after state_stale_after
kill -9 "$RPID"
wait "$RPID" 2>/dev/null
t0=$(date +%s%N)
keep=(); for p in "${PIDS[@]}"; do [ "$p" = "$RPID" ] || keep+=("$p"); done; PIDS=("${keep[@]}")
ADDR=${ADDRS[0]}
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $KEEP")
check "just after Redis died: still answered from memory" "${r%% *}" 200
r=$(req POST /oauth2/revoke --data-urlencode "token=$(sed -n 2p "$TMP/kept")" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "a revocation that cannot be shared: 503" "${r%% *}" 503
contains "the reason" "$r" "enforced on this replica only"
refused_at=
for _ in $(seq 100); do
    r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $KEEP")
    if [ "${r%% *}" = 401 ]; then refused_at=$(date +%s%N); break; fi
    sleep 0.05
done
if [ -n "$refused_at" ]; then
    ms=$(((refused_at - t0) / 1000000))
    echo "fail closed $ms ms after Redis was killed (state_stale_after = $STALE s)"
    check "fail closed after state_stale_after, not before" \
        "$([ "$ms" -ge $((STALE * 1000 - 500)) ] && [ "$ms" -le $((STALE * 1000 + 1500)) ] && echo yes || echo "no ($ms ms)")" yes
else
    bad "tokens still accepted 5 s after Redis died"
fi
contains "the reason names the shared state" "$r" "shared state (redis) silent"
ADDR=${ADDRS[1]}
# its own last word from Redis may be a little later than r0's: give it the
# same bound (state_stale_after from its last word, checked in 50 ms steps)
for _ in $(seq 30); do
    r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $KEEP")
    [ "${r%% *}" = 401 ] && break
    sleep 0.05
done
check "every replica fails closed" "${r%% *}" 401
m=$(curl -s -m 5 "http://${ADDRS[1]}/metrics")
contains "stale gauge" "$m" "writ_state_stale 1"
grep -q '^writ_state_stale_refusals_total [1-9]' <<<"$m" && ok "stale refusals counted" || bad "stale refusals counted"
r=$(req GET /healthz)
check "healthz: 503 while stale" "${r%% *}" 503
if [ -n "$IDLINE" ]; then
    # every revocation lookup answers "revoked" while stale: the refusal says why
    r=$(curl -s -m 5 -X POST "http://$ADDR/oauth2/token" -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
        --data-urlencode "subject_token=$(peer svid "$TMP" spiffe://corp.example/agents/analyst)" \
        --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt --data-urlencode scope=read \
        --data-urlencode purpose=report)
    contains "start_task while stale: refused naming the shared state, not a revocation" \
        "$(jq -r .error_description <<<"$r")" "shared state (redis) silent"
fi

# ---- Redis back on its append-only file: caught up, nothing forgotten
start_redis
back=
for _ in $(seq 60); do
    r=$(ADDR=${ADDRS[0]} req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $KEEP")
    [ "${r%% *}" = 200 ] && { back=1; break; }
    sleep 0.1
done
check "answering again once Redis is back" "${back:-no}" 1
start_writ r3 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r3   # knows only what Redis kept
ADDRS[3]=$ADDR R3PID=$WPID
for _ in $(seq 30); do
    r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $KEEP")
    [ "${r%% *}" = 200 ] && break
    sleep 0.1
done
check "a new replica answers" "${r%% *}" 200
still=0 total=0
for a in "${ADDRS[0]}" "${ADDRS[1]}" "${ADDRS[3]}"; do
    while read -r tok; do
        total=$((total + 1))
        r=$(ADDR=$a req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
        [ "${r%% *}" = 401 ] && still=$((still + 1))
    done <"$TMP/revoked"
done
check "after Redis restarted, every token revoked before is still refused (3 replicas x $((N + 1)))" "$still" "$total"
r=$(ADDR=${ADDRS[3]} req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(sed -n 3p "$TMP/kept")")
check "tokens never revoked are still allowed" "${r%% *}" 200

# Redis killed and started again without its data (no append-only file).
wipe_redis() {
    kill -9 "$RPID"
    wait "$RPID" 2>/dev/null
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$RPID" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    rm -rf "$TMP/redis/appendonlydir" "$TMP/redis"/*.aof
    start_redis
}
# hlen_at_least N: wait (10 s at most) for N revocations in Redis; prints yes or "no: COUNT".
hlen_at_least() {
    local n
    for _ in $(seq 100); do
        n=$(REDISCLI_AUTH=$(cat "$TMP/redis.pass") redis-cli -p "$rport" hlen writ:rev 2>/dev/null)
        [ "${n:-0}" -ge "$1" ] && { echo yes; return; }
        sleep 0.1
    done
    echo "no: ${n:-?}"
}
# refused FILE: how many of FILE's tokens the replica at ADDR refuses (401).
refused() {
    local tok r k=0
    while read -r tok; do
        r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
        [ "${r%% *}" = 401 ] && k=$((k + 1))
    done <"$1"
    echo "$k"
}

# ---- Redis loses its data (restarted without its append-only file): the
# replicas running put back every live revocation they know, so a replica
# started afterwards refuses those tokens too; among them the one r0 took
# while Redis was down (enforced on r0 only until now).
wipe_redis
check "the replicas put their revocations back ($((N + 2)) tokens)" "$(hlen_at_least $((N + 2)))" yes
contains "r0 says the store had lost them" "$(cat "$TMP/r0.log")" "the shared store had lost its revocations"
start_writ r4 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r4   # started after the loss
R4PID=$WPID
{ cat "$TMP/revoked"; sed -n 2p "$TMP/kept"; } >"$TMP/revoked.all"
total=$(wc -l <"$TMP/revoked.all")
check "after Redis lost its data, a replica started afterwards refuses every revoked token ($total)" "$(refused "$TMP/revoked.all")" "$total"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(sed -n 3p "$TMP/kept")")
check "and still allows a token never revoked" "${r%% *}" 200

# ---- Redis loses its data while every replica is stopped: each replica
# keeps its own copy of the revocations in its state folder (writ.db), so
# r1, started again, puts them back, and a replica started afterwards with
# no copy of its own refuses those tokens too.
for p in "${RPIDS[0]}" "${RPIDS[1]}" "$R3PID" "$R4PID"; do stop_writ "$p"; done
wipe_redis
n=$(REDISCLI_AUTH=$(cat "$TMP/redis.pass") redis-cli -p "$rport" hlen writ:rev 2>/dev/null)
check "Redis restarted empty" "${n:-?}" 0
start_writ r1 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r1   # on its own state folder again
check "r1 put back its local copy ($((N + 2)) tokens)" "$(hlen_at_least $((N + 2)))" yes
contains "r1 says where they came from" "$(cat "$TMP/r1.log")" "from its local copy, at start"
start_writ r5 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r5   # no copy of its own
check "after Redis lost its data with every replica stopped, a new replica refuses every revoked token ($total)" "$(refused "$TMP/revoked.all")" "$total"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(sed -n 3p "$TMP/kept")")
check "and still allows a token never revoked" "${r%% *}" 200
finish
