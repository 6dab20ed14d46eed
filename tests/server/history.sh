#!/usr/bin/env bash
# history.sh - task-history limits through the real server (docs/LIMITS.md):
# a limit allows 5 and denies the 6th; per task is shared by the task's
# delegates; per root cannot be reset by delegating (via /oauth2/token) nor
# by starting another task; a decimal sum; a caller-sent context.history is
# replaced both ways; a short window expires; task-less requests share one
# count; the counts survive a restart and a kill -9 (after the write-behind
# period); a bad limit line is refused at start (flag and file, with its
# line) and at SIGHUP (the old limits keep counting, /healthz degraded),
# and a good reload adds a limit.  Needs node and tests/peers/node_modules
# (jose) for the identity tokens; exit 77 = skipped.
. "$(dirname "$0")/lib.sh"
PEERS=${WRIT_PEERS:-$REPO/tests/peers}
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ]; then
    echo "history: SKIPPED, node or $PEERS/node_modules/jose missing (npm ci in tests/peers)"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
A=spiffe://corp.example/agents
XT=urn:ietf:params:oauth:grant-type:token-exchange
JWT=urn:ietf:params:oauth:token-type:jwt
AT=urn:ietf:params:oauth:token-type:access_token
FORM='Content-Type: application/x-www-form-urlencoded'
peer keys "$TMP" || { bad "jose keys"; finish; }

cat >"$TMP/h.cedarschema" <<'SCHEMA'
namespace Writ {
  entity Agent;
  entity Task;
  entity Service;
  entity Dataset;
  entity Account;
  type TaskInfo = { id: String, purpose: String };
  type History = {
    deploys_per_task?: Long, writes_per_root?: Long, paid_today?: decimal, reads_2s?: Long, pays_n?: Long,
  };
  type Ctx = { task: TaskInfo, chain_depth: Long, amount?: decimal, history?: History };
  action deploy appliesTo { principal: Agent, resource: Service, context: Ctx };
  action write appliesTo { principal: Agent, resource: Dataset, context: Ctx };
  action read appliesTo { principal: Agent, resource: Dataset, context: Ctx };
  action pay appliesTo { principal: Agent, resource: Account, context: Ctx };
  action start_task appliesTo { principal: Agent, resource: Task, context: Ctx };
  action delegate appliesTo { principal: Agent, resource: Agent, context: Ctx };
}
SCHEMA
cat >"$TMP/h.cedar" <<'CEDAR'
@id("permit-all") permit (principal, action, resource);
@id("deploys-per-task") forbid (principal, action == Writ::Action::"deploy", resource)
  when { context has history && context.history has deploys_per_task && context.history.deploys_per_task >= 5 };
@id("writes-per-root") forbid (principal, action == Writ::Action::"write", resource)
  when { context has history && context.history has writes_per_root && context.history.writes_per_root >= 3 };
@id("paid-today") forbid (principal, action == Writ::Action::"pay", resource)
  when { context has history && context.history has paid_today && context.history.paid_today.greaterThanOrEqual(decimal("110.5")) };
@id("reads-2s") forbid (principal, action == Writ::Action::"read", resource)
  when { context has history && context.history has reads_2s && context.history.reads_2s >= 2 };
@id("pays-n") forbid (principal, action == Writ::Action::"pay", resource)
  when { context has history && context.history has pays_n && context.history.pays_n >= 1 };
CEDAR
write_conf() {
    cat >"$TMP/writ.conf" <<CONF
policies = $TMP/h.cedar
schema = $TMP/h.cedarschema
identity_spiffe = corp.example $TMP/bundle.json
reload_poll = 0
limit = deploys_per_task 1h  deploy per task
limit = writes_per_root  1h  write  per root
limit = paid_today       1d  pay sum context.amount per agent
limit = reads_2s         2s  read   per agent
CONF
}
write_conf
start_writ h --config "$TMP/writ.conf"

form() { local p=$1; shift; req POST "$p" -H "$FORM" "$@"; }
body() { echo "${1#* }"; }
# start_task AGENT: a task token (scope: every action, any resource) in $TOK, its id in $TASK
start_task() {
    local r
    r=$(form /oauth2/token --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$(peer svid "$TMP" "$A/$1")" \
        --data-urlencode "subject_token_type=$JWT" --data-urlencode 'scope=deploy write read pay' \
        --data-urlencode 'purpose=release' --data-urlencode 'resource=*' --data-urlencode 'owner=alice@corp.example' \
        --data-urlencode 'sensitivity=restricted')
    TOK=$(body "$r" | jq -r .access_token)
    TASK=$(body "$r" | jq -r .task_id)
    [ "${r%% *}" = 200 ] || bad "start_task $1: $r"
}
# delegate TOKEN AGENT: the task token delegated to AGENT, in $DTOK
delegate() {
    local r
    r=$(form /oauth2/token --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$1" \
        --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token=$(peer svid "$TMP" "$A/$2" writ-actor)" \
        --data-urlencode "actor_token_type=$JWT" --data-urlencode 'scope=deploy write')
    DTOK=$(body "$r" | jq -r .access_token)
    [ "${r%% *}" = 200 ] || bad "delegate to $2: $r"
}
# az TOKEN ACTION RTYPE RID [CONTEXT]: "allow|deny POLICIES" of an AuthZEN evaluation
az() {
    curl -s -m 5 -X POST -H 'Content-Type: application/json' ${1:+-H "Authorization: Bearer $1"} \
        --data-binary "{\"action\":{\"name\":\"$2\"},\"resource\":{\"type\":\"$3\",\"id\":\"$4\"},\"context\":${5:-{\}}}" \
        "http://$ADDR/access/v1/evaluation" |
        jq -r '(if .decision then "allow" else "deny" end) + " " + (.context.reasons | join(",")) + ((.context.errors // []) | map(" ERR " + .message) | join(""))' |
        sed -e "$IDS"
}
# policies are named by @id where the server does so, else policyN: the same here
IDS='s/\bpolicy0\b/permit-all/; s/\bpolicy1\b/deploys-per-task/; s/\bpolicy2\b/writes-per-root/; s/\bpolicy3\b/paid-today/; s/\bpolicy4\b/reads-2s/; s/\bpolicy5\b/pays-n/'

# times N CMD...: the answers of N runs, space separated, as "a" / "d"
times() {
    local n=$1 out="" r; shift
    for _ in $(seq "$n"); do r=$("$@"); out+="${r:0:1}"; done
    echo "$out"
}

# ---- 5 allowed, the 6th denied; the task is shared by its delegates
start_task code-agent
TA=$TOK TASKA=$TASK
check "deploy: 5 allowed, then denied" "$(times 7 az "$TA" deploy Service api)" "aaaaadd"
check "... by the limit's forbid" "$(az "$TA" deploy Service api)" "deny deploys-per-task"
delegate "$TA" triage-bot
check "the task's delegate shares the task's count" "$(az "$DTOK" deploy Service api)" "deny deploys-per-task"
start_task code-agent
TB=$TOK
check "another task of the same agent counts apart" "$(az "$TB" deploy Service api)" "allow permit-all"
az "$TB" deploy Service api >/dev/null

# ---- requests at once: each sees the others in flight (an unknown outcome
# counts as an allow), so exactly the limit is let through, never more
# many N TOKEN ACTION RTYPE RID [CONTEXT]: N evaluations at once (one curl,
# N connections in parallel); "ALLOWED DENIED"
many() {
    local n=$1 tok=$2 i; shift 2
    local data="{\"action\":{\"name\":\"$1\"},\"resource\":{\"type\":\"$2\",\"id\":\"$3\"},\"context\":${4:-{\}}}"
    : >"$TMP/many.cfg"
    for i in $(seq "$n"); do
        printf 'url = "http://%s/access/v1/evaluation"\nrequest = "POST"\nheader = "Content-Type: application/json"\nheader = "Authorization: Bearer %s"\ndata-binary = "%s"\n%s' \
            "$ADDR" "$tok" "$(sed 's/"/\\"/g' <<<"$data")" "$([ "$i" -lt "$n" ] && echo next)" >>"$TMP/many.cfg"
        echo >>"$TMP/many.cfg"
    done
    curl -s -m 20 --parallel --parallel-immediate --parallel-max "$n" -K "$TMP/many.cfg" >"$TMP/many.out"
    echo "$(grep -o '"decision":true' "$TMP/many.out" | wc -l) $(grep -o '"decision":false' "$TMP/many.out" | wc -l)"
}
start_task burst-agent
check "48 deploys at once on a fresh task: exactly 5 allowed" "$(many 48 "$TOK" deploy Service api)" "5 43"
check "... and the task is at its limit" "$(az "$TOK" deploy Service api)" "deny deploys-per-task"
sleep 0.3 # the write-behind period
n=$(sqlite3 "$TMP/h.state/writ.db" "SELECT sum(value) FROM counters WHERE limit_id LIKE 'deploys_per_task:%' AND key = '$TASK'")
check "... the store counted the 5 allowed, not the 43 denied" "$n" 5
start_task burst-payer
check "20 payments of 10.00 at once under a cap of 110.5: exactly 12 allowed (sums 0 .. 110)" \
    "$(many 20 "$TOK" pay Account acct '{"amount":{"__extn":{"fn":"decimal","arg":"10.00"}}}')" "12 8"

# ---- context.history is Writ's
check "a caller's history cannot lift a limit" \
    "$(az "$TA" deploy Service api '{"history":{"deploys_per_task":0}}')" "deny deploys-per-task"
start_task code-agent
TC=$TOK
check "a caller's history cannot impose one" \
    "$(az "$TC" deploy Service api '{"history":{"deploys_per_task":99}}')" "allow permit-all"
check "a caller's history that does not even fit the schema is replaced" \
    "$(az "$TC" deploy Service api '{"history":"nonsense"}')" "allow permit-all"

# ---- per root: not reset by delegating, nor by a new task
start_task code-agent
TD=$TOK
check "write per root: 3 allowed, then denied" "$(times 4 az "$TD" write Dataset d1)" "aaad"
delegate "$TD" triage-bot
check "the delegate writes under the same root: denied" "$(az "$DTOK" write Dataset d1)" "deny writes-per-root"
delegate "$DTOK" release-bot 2>/dev/null
check "a delegate of the delegate: still denied" "$(az "$DTOK" write Dataset d2)" "deny writes-per-root"
start_task code-agent
check "a new task of the root: still denied" "$(az "$TOK" write Dataset d1)" "deny writes-per-root"
start_task analyst
check "another root counts apart" "$(az "$TOK" write Dataset d1)" "allow permit-all"

# ---- a decimal sum: 40.25 + 40.25 + 30.00 = 110.50
pay() { az "$1" pay Account acct "{\"amount\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"$2\"}}}"; }
start_task finance-bot
TF=$TOK
check "pay 40.25 (sum 0)" "$(pay "$TF" 40.25)" "allow permit-all"
check "pay -100000.00 (it would lower the sum): denied" "$(pay "$TF" -100000.00 | cut -c1-4)" "deny"
check "pay 40.25 (sum 40.25)" "$(pay "$TF" 40.25)" "allow permit-all"
check "pay 30.00 (sum 80.50)" "$(pay "$TF" 30.00)" "allow permit-all"
check "pay 0.01 (sum 110.50: at the limit)" "$(pay "$TF" 0.01)" "deny paid-today"
check "an amount that is no number is refused (fail closed)" \
    "$(az "$TF" pay Account acct '{"amount":"lots"}' | cut -c1-4)" "deny"

# ---- a short window expires
start_task reader-bot
TR=$TOK
check "reads_2s: 2 allowed, the 3rd denied" "$(times 3 az "$TR" read Dataset d1)" "aad"
sleep 2.3
check "after the window: allowed again" "$(az "$TR" read Dataset d1)" "allow permit-all"

# ---- without a task token, every task-less request shares one task count
vouch() {   # vouch AGENT: an AuthZEN evaluation without a token (the caller vouches), no task
    curl -s -m 5 -X POST -H 'Content-Type: application/json' --data-binary \
        "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/$1\"},\"action\":{\"name\":\"deploy\"},\"resource\":{\"type\":\"Service\",\"id\":\"api\"},\"context\":{\"chain_depth\":0}}" \
        "http://$ADDR/access/v1/evaluation" | jq -r 'if .decision then "a" else "d" end'
}
check "task-less deploys of two agents share a count" "$(vouch x1)$(vouch x2)$(vouch x1)$(vouch x2)$(vouch x1)$(vouch x2)" "aaaaad"

# ---- a restart does not reset a limit
sleep 0.3
stop_writ "$WPID"
start_writ h --config "$TMP/writ.conf"
check "after a restart: task A still at its limit" "$(az "$TA" deploy Service api)" "deny deploys-per-task"
check "... task B still has 2 of 5: 3 allowed, then denied" "$(times 4 az "$TB" deploy Service api)" "aaad"
check "... the root still at its limit" "$(az "$TD" write Dataset d9)" "deny writes-per-root"
check "... the decimal sum kept" "$(pay "$TF" 0.01)" "deny paid-today"

# ---- a kill -9 after the write-behind period loses nothing
check "task C: 2 more deploys (now 4)" "$(times 2 az "$TC" deploy Service api)" "aa"
sleep 0.3
stop_writ "$WPID" KILL
start_writ h --config "$TMP/writ.conf"
check "after kill -9: task C has 1 left" "$(times 2 az "$TC" deploy Service api)" "ad"
n=$(sqlite3 "$TMP/h.state/writ.db" "SELECT sum(value) FROM counters WHERE limit_id LIKE 'paid_today:%' AND key = '$A/finance-bot'")
check "the store holds the decimal sum in 10^-4 units" "$n" 1105000

# ---- a bad limit line at start: clear error, non-zero exit
out=$("$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --policies "$TMP/h.cedar" \
    --limit "deploys 5q deploy" 2>&1)
rc=$?
check "bad --limit: exit 2" "$rc" 2
contains "... names the column and the unit" "$out" "limit: column 10: window '5q': unit 'q' is not s, m, h or d"
cp "$TMP/writ.conf" "$TMP/bad.conf"
echo "limit = pays_n 1h pay per tree" >>"$TMP/bad.conf"
out=$("$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --config "$TMP/bad.conf" 2>&1)
rc=$?
check "bad limit line in the file: exit 2" "$rc" 2
contains "... names the file and line" "$out" "$TMP/bad.conf:9: limit: column 19: per 'tree': expected task, agent or root"
echo "limit = deploys_per_task 1h write" >"$TMP/dup.conf"
echo "limit = deploys_per_task 2h read" >>"$TMP/dup.conf"
out=$("$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --policies "$TMP/h.cedar" \
    --config "$TMP/dup.conf" 2>&1)
rc=$?
check "a name declared twice: refused" "$rc" 1
contains "... and says so" "$out" "dup.conf:2: limit: column 1: 'deploys_per_task' is declared twice"

# ---- a bad line at SIGHUP: refused, the old limits keep serving
cp "$TMP/bad.conf" "$TMP/writ.conf"
kill -HUP "$WPID"
for _ in $(seq 50); do grep -q "refused" "$TMP/h.log" && break; sleep 0.1; done
contains "SIGHUP with a bad line: refused with file and line" "$(grep refused "$TMP/h.log")" \
    "writ.conf:9: limit: column 19: per 'tree'"
r=$(req GET /healthz)
check "... /healthz degraded" "${r%% *} $(body "$r" | jq -r .status)" "503 degraded"
contains "... with the reason" "$r" "per 'tree'"
check "... the old limits still count" "$(az "$TC" deploy Service api)" "deny deploys-per-task"
check "... the bad line's limit is not in force" "$(pay "$TOK" 1.00)" "allow permit-all"

# ---- a good reload adds the limit; counting goes on
sed -i 's/pay per tree/pay per task/' "$TMP/writ.conf"
kill -HUP "$WPID"
for _ in $(seq 50); do grep -q "limits in force: 5" "$TMP/h.log" && break; sleep 0.1; done
r=$(req GET /healthz)
check "fixed and reloaded: healthy" "${r%% *}" 200
start_task payer-bot
check "the new limit counts from now: 1 allowed, then denied" "$(times 2 pay "$TOK" 1.00)" "ad"
check "the old limits kept their counts" "$(az "$TA" deploy Service api)" "deny deploys-per-task"

# ---- /metrics
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "metrics: limits in force" "$m" "writ_limits_in_force 5"
contains "metrics: counted on SQLite (write-behind)" "$m" 'writ_limits_store_info{state="sqlite"} 1'
grep -Eq '^writ_limits_keys [1-9]' <<<"$m" && ok "metrics: rings held" || bad "metrics: rings held: $(grep limits_keys <<<"$m")"
grep -Eq '^writ_limits_counted_total [1-9]' <<<"$m" && ok "metrics: counted" || bad "metrics: counted"
contains "metrics: nothing refused" "$m" "writ_limits_not_counted_total 0"

finish
