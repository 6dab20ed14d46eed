#!/usr/bin/env bash
# approvals.sh - human approval bound to one exact action (issue 10),
# through the real server: a request resting only on @approval("required")
# permits is held with a pending approval (the same one when asked again);
# approved, exactly one identical request is allowed (also of 32 at once);
# other arguments, task or resource need their own; a denial holds with its
# reason; approvals expire; who approves is a Cedar decision (policy
# refuses, self-approval, credentials that are not a person's); the API's
# errors (401/403/404/409/400); a forbid wins; /authz/check answers 403
# with X-Writ-Approval; the webhook gets each new pending approval (retried
# after a failure), every POST signed (Standard Webhooks) and verified by
# the receiver on its own, the secret made once (0600) and kept across a
# restart, or configured, a malformed one refusing the start; every step is
# an audit record; the CLI.  Needs node (jose, for the OIDC tokens),
# python3 (the webhook receiver), curl, jq.
source "$(dirname "$0")/lib.sh"
PEERS="$REPO/tests/peers"
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ] || ! command -v python3 >/dev/null; then
    echo "approvals: SKIPPED, node, $PEERS/node_modules/jose or python3 missing"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
peer keys "$TMP" || { bad "jose keys"; finish; }
IDP=https://idp.example
oidc() { peer oidc "$TMP" "$IDP" "$@"; }
ALICE=$(oidc alice '{"email":"alice@corp.example"}')
MALLORY=$(oidc mallory '{"email":"mallory@corp.example"}')
ROOTBOT=$(oidc root-bot '{"email":"alice@corp.example"}')   # the chain's root, as a person
SVID=$(peer svid "$TMP" spiffe://corp.example/agents/release-bot)
admin_secret

cat >"$TMP/policies.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service)
when { resource.environment == "production" };

@id("deploy-staging")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service)
when { resource.environment == "staging" };

// a second permit without the annotation: allowed outright
@id("deploy-hybrid")
permit (principal, action == Writ::Action::"deploy", resource == Writ::Service::"hybrid");

@id("frozen")
forbid (principal, action == Writ::Action::"deploy", resource == Writ::Service::"frozen");

@id("owner-approves")
permit (principal is Writ::User, action == Writ::Action::"approve_request", resource is Writ::Approval)
when { context.claims has email && resource.agent has owner && resource.agent.owner == context.claims.email };

@id("note-approves")
permit (principal is Writ::User, action == Writ::Action::"approve_request", resource is Writ::Approval)
when { resource.action == "echo/add" && resource.input has note && context.claims has email &&
       context.claims.email == "alice@corp.example" };

@id("start")
permit (principal, action == Writ::Action::"start_task", resource);

@id("mcp-add")
@approval("required")
permit (principal, action == Writ::Action::"echo/add", resource == Writ::McpServer::"echo");
CEDAR
svc() { echo "{\"uid\":{\"type\":\"Writ::Service\",\"id\":\"$1\"},\"attrs\":{\"environment\":\"$2\"},\"parents\":[]}"; }
cat >"$TMP/entities.json" <<JSON
[$(svc payments production), $(svc web production), $(svc hybrid production), $(svc frozen production),
 $(svc stage staging),
 {"uid":{"type":"Writ::Agent","id":"ci-bot"},"attrs":{"owner":"alice@corp.example"},"parents":[]},
 {"uid":{"type":"Writ::Agent","id":"spiffe://corp.example/agents/release-bot"},"attrs":{"owner":"alice@corp.example"},"parents":[]}]
JSON

# The webhook receiver, DIR/hook.py SECRET_FILE DIR: it checks the Standard
# Webhooks signature of every POST on its own (Python's hmac, hashlib and
# base64; the key read from SECRET_FILE at the first POST and kept, so a
# restarted Writ must sign with the same one): webhook-id, -timestamp (within
# 5 min) and -signature present, one v1 signature verifying, and the same
# signature not verifying the body with one bit changed.  POSTs to /hook:
# each is a line of DIR/log.jsonl (id, timestamp, SHA-256 of the body, the
# fault or null); a faulty one is also a line of DIR/bad and gets a 401;
# else the first gets a 500 (Writ must retry), the others a 204, each body a
# line of DIR/hook.jsonl and the last delivery kept in DIR/last.* (for the
# probes).  POSTs elsewhere (the test's probes): only 401 or 204.
cat >"$TMP/hook.py" <<'PY'
import base64, hashlib, hmac, http.server, json, os, sys, time
secret_file, d = sys.argv[1], sys.argv[2]
key, seen = [], [0]
def sign(mid, ts, body):
    if not key:
        line = open(secret_file, 'rb').read().split(b'\n')[0].decode()
        assert line.startswith('whsec_'), 'no whsec_ secret in ' + secret_file
        key.append(base64.b64decode(line[len('whsec_'):], validate=True))
    mac = hmac.new(key[0], mid.encode() + b'.' + ts.encode() + b'.' + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()
def fault(h, body):
    mid, ts, sig = h.get('webhook-id'), h.get('webhook-timestamp'), h.get('webhook-signature')
    if not (mid and ts and sig):
        return 'unsigned: webhook-id, webhook-timestamp or webhook-signature missing'
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return 'webhook-timestamp %r not within 5 minutes of now' % ts
    got = [s[3:] for s in sig.split(' ') if s.startswith('v1,')]
    if not any(hmac.compare_digest(sign(mid, ts, body), g) for g in got):
        return 'signature does not verify: %r' % sig
    tampered = body[:-1] + bytes([body[-1] ^ 1]) if body else b'x'
    if any(hmac.compare_digest(sign(mid, ts, tampered), g) for g in got):
        return 'the signature verifies a tampered body too'
    return None
def put(name, data, mode='wb'):
    with open(os.path.join(d, name), mode) as f:
        f.write(data)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        why = fault(self.headers, body)
        if self.path == '/hook':
            put('log.jsonl', json.dumps({'id': self.headers.get('webhook-id'), 'ts': self.headers.get('webhook-timestamp'),
                'sha': hashlib.sha256(body).hexdigest(), 'fault': why}) + '\n', 'a')
            if why:
                put('bad', why + '\n', 'a')
            else:
                seen[0] += 1
                if seen[0] > 1:
                    put('hook.jsonl', body.replace(b'\n', b' ') + b'\n', 'ab')
                    put('last.body', body)
                    put('last.headers', ''.join('%s: %s\n' % (k, self.headers[k]) for k in
                        ('webhook-id', 'webhook-timestamp', 'webhook-signature')), 'w')
        self.send_response(401 if why else 500 if seen[0] == 1 and self.path == '/hook' else 204)
        self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
put('port', str(s.server_address[1]), 'w')
s.serve_forever()
PY
# start_receiver DIR SECRET_FILE: a receiver writing into DIR; sets HOOK_PORT
start_receiver() {
    mkdir -p "$1"
    python3 "$TMP/hook.py" "$2" "$1" &
    PIDS+=($!)
    for _ in $(seq 50); do [ -s "$1/port" ] && break; sleep 0.1; done
    HOOK_PORT=$(cat "$1/port")
}
STATE="$TMP/appr.state"
HOOK="$TMP/hook"
start_receiver "$HOOK" "$STATE/webhook.secret"   # made by Writ on its first start
# an MCP upstream (the SDK's server) for the gateway's -32002
LOG="$TMP/echo.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/echo.port" 2>"$TMP/echo.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/echo.port" ] && break; sleep 0.1; done
XPORT=$(head -1 "$TMP/echo.port")

cat >"$TMP/writ.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
identity_spiffe = corp.example $TMP/bundle.json
identity_oidc = $IDP $TMP/oidc.json
admin_token_file = $TMP/admin.secret
public_url = https://writ.example/
approval_webhook = http://127.0.0.1:$HOOK_PORT/hook
check_principal_header = X-Agent
route = POST /deploy/{svc} deploy Service {svc}
mcp_upstream = echo http://127.0.0.1:$XPORT/mcp
CONF
start_writ appr --config "$TMP/writ.conf" --threads 8
APPR_PID=$WPID

# ask SERVICE TASK INPUT: an AuthZEN evaluation of ci-bot's deploy (the PEP vouches)
ask() {
    post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},
      \"resource\":{\"type\":\"Service\",\"id\":\"$1\"},\"context\":{\"task\":{\"id\":\"$2\",\"purpose\":\"release\"},
      \"chain\":[\"root-bot\",\"ci-bot\"],\"time\":\"2026-01-01T00:00:00Z\",\"input\":$3}}"
}
body() { echo "${1#* }"; }
code() { echo "${1%% *}"; }
IN1='{"version":"1.2.3","canary":true}'
IN1_REORDERED='{ "canary" : true, "version" : "1.2.3" }'
IN2='{"version":"1.2.4","canary":true}'

# ---- held: pending, the same one when asked again
r=$(ask payments t1 "$IN1")
check "held: HTTP 200" "$(code "$r")" 200
check "held: decision false" "$(body "$r" | jq -r .decision)" false
check "held: status pending" "$(body "$r" | jq -r .context.approval.status)" pending
A1=$(body "$r" | jq -r .context.approval.id)
[[ "$A1" =~ ^apr_[A-Za-z0-9_-]{22}$ ]] && ok "approval id is URL-safe and long ($A1)" || bad "approval id <$A1>"
check "held: url under public_url" "$(body "$r" | jq -r .context.approval.url)" "https://writ.example/approvals/$A1"
[[ "$(body "$r" | jq -r .context.approval.expires_at)" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z$ ]] &&
    ok "expires_at is RFC 3339" || bad "expires_at: $(body "$r")"
contains "held: says approval required" "$(body "$r" | jq -c .context.errors)" "approval required"
r=$(ask payments t1 "$IN1_REORDERED")
check "asked again (same input, other spelling): same approval" "$(body "$r" | jq -r .context.approval.id)" "$A1"
check "asked again: still pending" "$(body "$r" | jq -r .context.approval.status)" pending

# ---- reading needs an approver's credential
r=$(req GET /approvals)
check "list without credentials: 401" "$(code "$r")" 401
r=$(req GET /approvals -H "Authorization: Bearer $SVID")
check "list with a JWT-SVID: 401" "$(code "$r")" 401
TASKTOK=$("$WRIT" token mint --key "$STATE/token-key.pem" --issuer https://writ.local --audience writ \
    --subject spiffe://corp.example/agents/helper --purpose demo --sensitivity restricted --txn t-mcp \
    --action 'echo/*')
r=$(req GET /approvals -H "Authorization: Bearer $TASKTOK")
check "list with a task token: 401" "$(code "$r")" 401
r=$(req GET /approvals -H "Authorization: Basic YTpi")
check "list with Basic: 401" "$(code "$r")" 401
# an approver sees what policy lets them decide: alice owns ci-bot, no
# policy lets mallory decide A1, and root-bot is in its chain
inlist() { jq -r --arg id "$2" '[.approvals[] | select(.id == $id)] | length' <<<"$(body "$1")"; }
r=$(req GET "/approvals?status=pending" -H "Authorization: Bearer $ALICE")
check "the owner lists: 200" "$(code "$r")" 200
check "the owner's list holds A1" "$(inlist "$r" "$A1")" 1
r=$(req GET "/approvals?status=pending" -H "Authorization: Bearer $MALLORY")
check "an approver no policy lets decide A1 lists: 200" "$(code "$r")" 200
check "... without A1" "$(inlist "$r" "$A1")" 0
r=$(req GET "/approvals/$A1" -H "Authorization: Bearer $MALLORY")
check "... and reads it: 404" "$(code "$r")" 404
check "... the answer of an unknown id" "$(body "$r" | sed "s/$A1/ID/")" \
    "$(body "$(req GET /approvals/apr_doesnotexist -H "Authorization: Bearer $MALLORY")" | sed "s/apr_doesnotexist/ID/")"
r=$(req GET "/approvals?status=pending" -H "Authorization: Bearer $ROOTBOT")
check "the requester (sub in the chain) lists: without A1 (though policy would let it)" "$(inlist "$r" "$A1")" 0
r=$(req GET "/approvals/$A1" -H "Authorization: Bearer $ROOTBOT")
check "the requester reads A1: 404" "$(code "$r")" 404
r=$(req GET "/approvals?status=bogus" -H "Authorization: Bearer $ALICE")
check "list with a bad status: 400" "$(code "$r")" 400
r=$(req GET "/approvals/$A1" -H "Authorization: Bearer $ALICE")
check "show: 200" "$(code "$r")" 200
a=$(body "$r")
check "show: agent" "$(jq -r .agent <<<"$a")" 'Writ::Agent::"ci-bot"'
check "show: action" "$(jq -r .action <<<"$a")" deploy
check "show: resource" "$(jq -r .resource <<<"$a")" 'Writ::Service::"payments"'
check "show: task" "$(jq -c .task <<<"$a")" '{"id":"t1","purpose":"release"}'
check "show: chain" "$(jq -c .chain <<<"$a")" '["root-bot","ci-bot"]'
check "show: the agent's owner (from the entities)" "$(jq -r .owner <<<"$a")" alice@corp.example
check "show: input" "$(jq -c .input <<<"$a")" '{"canary":true,"version":"1.2.3"}'
check "show: input_sha256 = SHA-256 of the JCS of context.input" "$(jq -r .input_sha256 <<<"$a")" \
    "$(printf '%s' '{"canary":true,"version":"1.2.3"}' | sha256sum | cut -d' ' -f1)"
check "show: decided_by null while pending" "$(jq -r '.decided_by, .reason' <<<"$a" | tr '\n' ,)" "null,null,"
[ "$(jq -r .created_at <<<"$a")" \< "$(jq -r .expires_at <<<"$a")" ] && ok "created_at before expires_at" || bad "times: $a"
r=$(req GET "/approvals/apr_doesnotexist" -H "Authorization: Bearer $ALICE")
check "show unknown: 404" "$(code "$r")" 404

# ---- deciding: bad input, then who may
dec() { req POST "/approvals/$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary "$3"; }
r=$(dec "$A1" "$ALICE" 'not json')
check "malformed body: 400" "$(code "$r")" 400
r=$(dec "$A1" "$ALICE" '{"decision":"maybe"}')
check "unknown decision: 400" "$(code "$r")" 400
r=$(dec "$A1" "$ALICE" '{"decision":"approve\u0000 -- no, deny"}')
check "a decision with a NUL after \"approve\": 400" "$(code "$r")" 400
r=$(dec "$A1" "$ALICE" '["approve"]')
check "body not an object: 400" "$(code "$r")" 400
r=$(dec "$A1" "$ALICE" '{"decision":"approve","reason":42}')
check "reason not a string: 400" "$(code "$r")" 400
long=$(head -c 1025 /dev/zero | tr '\0' x)
r=$(dec "$A1" "$ALICE" "{\"decision\":\"approve\",\"reason\":\"$long\"}")
check "reason of 1,025 bytes: 400" "$(code "$r")" 400
r=$(dec apr_doesnotexist "$ALICE" '{"decision":"approve"}')
check "approve an unknown id: 404" "$(code "$r")" 404
r=$(dec "$A1" "" '{"decision":"approve"}')
check "approve without credentials: 401" "$(code "$r")" 401
r=$(dec "$A1" "$SVID" '{"decision":"approve"}')
check "approve with a JWT-SVID: 401" "$(code "$r")" 401
r=$(dec "$A1" "$TASKTOK" '{"decision":"approve"}')
check "approve with a task token: 401" "$(code "$r")" 401
# refused: the 404 of an unknown id (the refusal and its reason are in the
# audit log: below)
r=$(dec "$A1" "$MALLORY" '{"decision":"approve"}')
check "approver refused by policy: 404" "$(code "$r")" 404
check "... the answer of an unknown id" "$(body "$r" | sed "s/$A1/ID/")" \
    "$(body "$(dec apr_doesnotexist "$MALLORY" '{"decision":"approve"}')" | sed "s/apr_doesnotexist/ID/")"
r=$(dec "$A1" "$ROOTBOT" '{"decision":"approve"}')
check "self-approval (sub in the chain): 404" "$(code "$r")" 404
r=$(dec "$A1" "$ALICE" "{\"decision\":\"approve\",\"reason\":\"$(head -c 1024 /dev/zero | tr '\0' y)\"}")
check "the owner approves (reason of 1,024 bytes): 200" "$(code "$r")" 200
check "approved: status" "$(body "$r" | jq -r .status)" approved
check "approved: decided_by" "$(body "$r" | jq -r .decided_by)" 'Writ::User::"alice"'
r=$(dec "$A1" "$ALICE" '{"decision":"deny"}')
check "decide again: 409" "$(code "$r")" 409

# ---- any difference needs its own approval
r=$(ask payments t1 "$IN2")
A2=$(body "$r" | jq -r .context.approval.id)
check "changed arguments: held" "$(body "$r" | jq -r .decision)/$(body "$r" | jq -r .context.approval.status)" false/pending
[ -n "$A2" ] && [ "$A2" != "$A1" ] && ok "changed arguments: a new approval" || bad "changed arguments: $A2"
r=$(ask payments t2 "$IN1")
T2=$(body "$r" | jq -r .context.approval.id)
[ "$(body "$r" | jq -r .decision)" = false ] && [ "$T2" != "$A1" ] && [ "$T2" != null ] &&
    ok "other task: its own approval" || bad "other task: $r"
r=$(ask web t1 "$IN1")
W1=$(body "$r" | jq -r .context.approval.id)
[ "$(body "$r" | jq -r .decision)" = false ] && [ "$W1" != "$A1" ] && [ "$W1" != null ] &&
    ok "other resource: its own approval" || bad "other resource: $r"
r=$(req GET "/approvals/$A1" -H "Authorization: Bearer $ALICE")
check "A1 still approved (not used by the others)" "$(body "$r" | jq -r .status)" approved

# ---- single use under 32 concurrent identical requests
REQ="{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},\"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{\"task\":{\"id\":\"t1\",\"purpose\":\"release\"},\"chain\":[\"root-bot\",\"ci-bot\"],\"input\":$IN1}}"
mkdir -p "$TMP/race"
for i in $(seq 32); do
    curl -s -m 10 -X POST -H 'Content-Type: application/json' --data-binary "$REQ" \
        "http://$ADDR/access/v1/evaluation" >"$TMP/race/$i" &
done
wait_for_race() { local n; for _ in $(seq 100); do n=$(cat "$TMP"/race/* | jq -s length); [ "$n" = 32 ] && return; sleep 0.1; done; }
wait_for_race
check "32 concurrent: exactly one allowed" "$(cat "$TMP"/race/* | jq -s '[.[] | select(.decision == true)] | length')" 1
check "32 concurrent: the allowed one used A1" \
    "$(cat "$TMP"/race/* | jq -r -s '.[] | select(.decision == true) | .context.approval.id')" "$A1"
A3=$(cat "$TMP"/race/* | jq -r -s '[.[] | select(.decision == false) | .context.approval.id] | unique | .[]')
[ "$(wc -w <<<"$A3")" = 1 ] && [ "$A3" != "$A1" ] && ok "32 concurrent: the other 31 wait on one new approval" ||
    bad "32 concurrent: others on <$A3>"
r=$(req GET "/approvals/$A1" -H "Authorization: Bearer $ALICE")
check "A1 consumed" "$(body "$r" | jq -r .status)" consumed
r=$(dec "$A1" "$ALICE" '{"decision":"approve"}')
check "approve an already used approval: 409" "$(code "$r")" 409
r=$(ask payments t1 "$IN1")
check "after the single use: the next identical request waits on a new one" "$(body "$r" | jq -r .context.approval.id)" "$A3"

# ---- a denial holds with its reason, and no new approval is made
r=$(dec "$A3" "$ADMIN" '{"decision":"deny","reason":"change freeze until Monday"}')
check "admin denies: 200" "$(code "$r")" 200
check "denied: decided_by admin" "$(body "$r" | jq -r .decided_by)" admin
npend() { req GET "/approvals?status=pending" -H "Authorization: Bearer $ADMIN" | cut -d' ' -f2- | jq '.approvals | length'; }
before=$(npend)
r=$(ask payments t1 "$IN1")
check "after a denial: deny" "$(body "$r" | jq -r .decision)" false
check "after a denial: the denied approval" "$(body "$r" | jq -r .context.approval.id)/$(body "$r" | jq -r .context.approval.status)" "$A3/denied"
contains "after a denial: the approver's reason" "$(body "$r" | jq -c .context.errors)" "change freeze until Monday"
r=$(ask payments t1 "$IN1")
check "after a denial (again): still denied" "$(body "$r" | jq -r .context.approval.status)" denied
check "after a denial: no new pending approval" "$(npend)" "$before"

# ---- AuthZEN: a null in the context (input included) is refused when the
# request is read, before any approval (the MCP gateway holds one: below)
r=$(ask payments t1 '{"version":"1.2.3","note":null}')
check "authzen: a null in context.input: deny, no approval" "$(body "$r" | jq -c '[.decision, .context.approval]')" '[false,null]'
contains "... refused as Cedar's JSON refuses a null" "$(body "$r" | jq -r '.context.errors[0].message')" "JSON nulls are not allowed in Cedar"
check "... and no pending approval made" "$(npend)" "$before"

# ---- what an approval binds must read as it is bound: a vouched task id or
# purpose that is no string, or a chain that is no list of agent ids, would
# bind as none (task 5 and task 6 shared one approval, the card showing no
# task): denied, and no approval made
askctx() {
    post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},
      \"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{$1,\"input\":$IN1}}"
}
for bad_ctx in '"task":{"id":5,"purpose":"release"}|context.task.id' '"task":{"id":"t1","purpose":["release"]}|context.task.purpose' \
    '"chain":"root-bot"|context.chain' '"chain":{"root":"root-bot"}|context.chain' \
    '"chain":[{"type":"Agent","id":"root-bot"},"ci-bot"]|context.chain[0]' '"chain":["root-bot",7]|context.chain[1]'; do
    r=$(askctx "${bad_ctx%|*}")
    check "unbindable ${bad_ctx%|*}: deny, no approval" "$(body "$r" | jq -c '[.decision, .context.approval]')" '[false,null]'
    contains "... naming ${bad_ctx#*|}" "$(body "$r" | jq -r '.context.errors[0].message')" "approval required, but ${bad_ctx#*|} "
done
check "... and no pending approval made" "$(npend)" "$before"
# a chain naming its agents as uids still keeps them from approving
r=$(askctx '"task":{"id":"t-uid","purpose":"release"},"chain":["Writ::Agent::\"root-bot\"","ci-bot"]')
U1=$(body "$r" | jq -r .context.approval.id)
check "a chain of uids: held" "$(body "$r" | jq -r .context.approval.status)" pending
r=$(dec "$U1" "$ROOTBOT" '{"decision":"approve"}')
check "self-approval (sub the id of a uid in the chain): 404" "$(code "$r")" 404
check "... and it is still pending" "$(body "$(req GET "/approvals/$U1" -H "Authorization: Bearer $ADMIN")" | jq -r .status)" pending
r=$(dec "$U1" "$ADMIN" '{"decision":"deny","reason":"test done"}')
before=$(npend)

# ---- a forbid wins; a permit without the annotation allows outright
r=$(ask frozen t1 "$IN1")
check "forbid wins: deny" "$(body "$r" | jq -r .decision)" false
check "forbid wins: no approval" "$(body "$r" | jq -r .context.approval)" null
check "forbid wins: no pending approval made" "$(npend)" "$before"
r=$(ask hybrid t1 "$IN1")
check "a permit without @approval applies too: allowed" "$(body "$r" | jq -r .decision)" true
r=$(ask stage t1 "$IN1")
check "staging: allowed without approval" "$(body "$r" | jq -r .decision)" true

# ---- /authz/check: 403 with X-Writ-Approval
chk() { curl -s -m 5 -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' -X POST -H "X-Agent: ci-bot" "http://$ADDR/authz/check/deploy/$1"; }
c=$(chk web)
check "check: 403" "$c" 403
C1=$(tr -d '\r' <"$TMP/hdr" | awk -F': ' 'tolower($1) == "x-writ-approval" {print $2}')
check "check: X-Writ-Approval names the pending approval" "$C1" "$(jq -r .context.approval.id "$TMP/body")"
[ -n "$C1" ] && ok "check: header present ($C1)" || bad "check: no X-Writ-Approval"
c=$(chk web)
check "check again: the same approval" "$(tr -d '\r' <"$TMP/hdr" | awk -F': ' 'tolower($1) == "x-writ-approval" {print $2}')" "$C1"
r=$(dec "$C1" "$ALICE" '{"decision":"approve"}')
check "check: approved" "$(code "$r")" 200
check "check: allowed once" "$(chk web)" 200
c=$(chk web)
check "check: then held again" "$c" 403

# ---- the MCP gateway: JSON-RPC error -32002 with the approval in data
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TASKTOK")
call() { req POST /mcp/echo "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":$2}}"; }
r=$(call 1 '{"a":1,"b":2}')
check "mcp: held, -32002" "$(body "$r" | jq -c '[.id, .error.code]')" '[1,-32002]'
check "mcp: data is the pending approval" "$(body "$r" | jq -r .error.data.status)" pending
M1=$(body "$r" | jq -r .error.data.id)
check "mcp: data.url" "$(body "$r" | jq -r .error.data.url)" "https://writ.example/approvals/$M1"
r=$(req GET "/approvals/$M1" -H "Authorization: Bearer $ADMIN")
check "mcp: input_sha256 = SHA-256 of the JCS of the arguments" "$(body "$r" | jq -r .input_sha256)" \
    "$(printf '%s' '{"a":1,"b":2}' | sha256sum | cut -d' ' -f1)"
check "mcp: bound to the task and chain" "$(body "$r" | jq -c '[.task.id, .chain, .action, .resource]')" \
    '["t-mcp",["spiffe://corp.example/agents/helper"],"echo/add","Writ::McpServer::\"echo\""]'
r=$(call 2 '{"b":2,"a":1}')
check "mcp: asked again, same approval" "$(body "$r" | jq -r .error.data.id)" "$M1"
r=$(dec "$M1" "$ADMIN" '{"decision":"approve"}')
check "mcp: approved" "$(code "$r")" 200
r=$(call 3 '{"a":1,"b":3}')
check "mcp: other arguments still held" "$(body "$r" | jq -r .error.code)" -32002
before=$(cat "$TMP/echo.log" 2>/dev/null | grep -c '"add"')
r=$(call 4 '{"a":1,"b":2}')
contains "mcp: the approved call is forwarded" "$(body "$r")" '"result"'
check "mcp: the upstream saw it once" "$(cat "$TMP/echo.log" 2>/dev/null | grep -c '"add"')" $((before + 1))
r=$(call 5 '{"a":1,"b":2}')
check "mcp: single use: held again" "$(body "$r" | jq -r .error.code)" -32002
# arguments with an escaped NUL: stored, shown and decided on like any others
r=$(call 6 '{"a":1,"b":2,"note":"x\u0000y"}')
M2=$(body "$r" | jq -r .error.data.id)
r=$(req GET "/approvals/$M2" -H "Authorization: Bearer $ALICE")
check "mcp: an argument with NUL shown as it was" "$(body "$r" | jq -c .input.note)" '"x\u0000y"'
r=$(dec "$M2" "$ALICE" '{"decision":"approve"}')
check "mcp: an argument with NUL: approved by a policy on the input" "$(code "$r")" 200
r=$(call 7 '{"a":1,"b":2,"note":"x\u0000y"}')
contains "mcp: an argument with NUL: the approved call is forwarded" "$(body "$r")" '"result"'
# a null member (Cedar has no null, so policies do not see it) reaches the
# upstream: the approver's card shows it, and the approval binds it
r=$(call 8 '{"a":1,"b":2,"patch":{"name":"Bob","password":null}}')
check "mcp: a null argument: held, -32002" "$(body "$r" | jq -r .error.code)" -32002
M3=$(body "$r" | jq -r .error.data.id)
r=$(req GET "/approvals/$M3" -H "Authorization: Bearer $ADMIN")
check "... the card shows the null" "$(body "$r" | jq -c .input.patch)" '{"name":"Bob","password":null}'
r=$(call 10 '{"a":1,"b":2,"patch":{"name":"Bob"}}')
M4=$(body "$r" | jq -r .error.data.id)
[ -n "$M4" ] && [ "$M4" != "$M3" ] && ok "... the same call without the null is another approval" ||
    bad "... without the null: approval <$M4> (with it: $M3)"
r=$(dec "$M3" "$ADMIN" '{"decision":"approve"}')
check "... approved" "$(code "$r")" 200
r=$(call 11 '{"a":1,"b":2,"patch":{"name":"Bob"}}')
check "... the approval of the null does not cover the call without it" "$(body "$r" | jq -r .error.code)" -32002
r=$(call 12 '{"a":1,"b":2,"patch":{"name":"Bob","password":null}}')
contains "... the approved call with the null is forwarded" "$(body "$r")" '"result"'
r=$(call 13 '{"a":1,"b":2,"note":"n","patch":{"password":null}}')
M5=$(body "$r" | jq -r .error.data.id)
r=$(dec "$M5" "$ALICE" '{"decision":"approve"}')
check "... an approver's policy on the input decides one with a null (Cedar reads it without)" "$(code "$r")" 200
# a null element has no place in a Cedar set and would not be shown: refused,
# and no approval is made for it
pend0=$(body "$(req GET "/approvals?status=pending" -H "Authorization: Bearer $ADMIN")" | jq '.approvals | length')
r=$(call 9 '{"a":1,"b":2,"list":[1,null]}')
check "mcp: a null in an array: denied, -32001" "$(body "$r" | jq -r .error.code)" -32001
contains "... naming what the approver would not see" "$(body "$r" | jq -r .error.message)" "input.list (an array with a null)"
check "... and no approval made for it" "$(body "$(req GET "/approvals?status=pending" -H "Authorization: Bearer $ADMIN")" | jq '.approvals | length')" "$pend0"

# ---- the webhook got the pending approvals (after a retry for the first),
# each POST signed (the receiver verified it)
for _ in $(seq 100); do grep -q "$A1" "$HOOK/hook.jsonl" 2>/dev/null && break; sleep 0.1; done
h=$(grep "$A1" "$HOOK/hook.jsonl" | head -1)
check "webhook: the first pending approval (retried after a 500)" "$(jq -r .id <<<"$h")" "$A1"
check "webhook: its status, url and owner" "$(jq -r '.status + " " + .url + " " + .owner' <<<"$h")" \
    "pending https://writ.example/approvals/$A1 alice@corp.example"
for _ in $(seq 100); do grep -q "$A3" "$HOOK/hook.jsonl" 2>/dev/null && break; sleep 0.1; done
check "webhook: each new pending approval" "$(grep -c "$A3" "$HOOK/hook.jsonl")" 1
n=$(wc -l <"$HOOK/hook.jsonl")
[ "$n" -ge 2 ] && ok "webhook: $n deliveries, each signature verified by the receiver" || bad "webhook: $n deliveries"
check "webhook: no POST unsigned or failing verification" "$(cat "$HOOK/bad" 2>/dev/null)" ""
check "webhook: the retry of the first POST has its webhook-id and body" \
    "$(jq -s -c '[.[0].id == .[1].id, .[0].sha == .[1].sha, (.[0].id | test("^msg_[A-Za-z0-9_-]{22}$"))]' "$HOOK/log.jsonl")" \
    "[true,true,true]"
check "webhook: one webhook-id a message (as many ids as bodies)" \
    "$(jq -s '[.[].id] | unique | length' "$HOOK/log.jsonl")" "$(jq -s '[.[].sha] | unique | length' "$HOOK/log.jsonl")"
# the receiver's check is real: a delivery replayed as it came passes, with
# one byte of its body changed, another signature, or no signature, fails
probe() { curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@" \
    "http://127.0.0.1:$HOOK_PORT/probe"; }
hdr=()
while IFS= read -r l; do hdr+=(-H "$l"); done <"$HOOK/last.headers"
check "receiver: a delivery replayed as sent verifies" "$(probe "${hdr[@]}" --data-binary @"$HOOK/last.body")" 204
sed 's/"pending"/"approved"/' "$HOOK/last.body" >"$TMP/tampered.body"
cmp -s "$HOOK/last.body" "$TMP/tampered.body" && bad "tampering changed nothing"
check "receiver: the same headers with a tampered body: 401" "$(probe "${hdr[@]}" --data-binary @"$TMP/tampered.body")" 401
check "receiver: an unsigned POST: 401" "$(probe --data-binary @"$HOOK/last.body")" 401
check "receiver: a forged signature: 401" "$(probe "${hdr[@]:0:4}" -H "webhook-signature: v1,$(head -c 32 /dev/urandom | base64)" \
    --data-binary @"$HOOK/last.body")" 401
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "metrics: the webhook's failed POST was retried, none given up" "$m" 'writ_approval_webhook_total{result="failed"} 0'
grep -q 'writ_approval_webhook_total{result="sent"} [1-9]' <<<"$m" && ok "metrics: webhook POSTs sent" || bad "metrics: $m"

# ---- the CLI against the running server
CLI=(--server "http://$ADDR" --token-file "$TMP/admin.secret")
out=$("$WRIT" approvals list "${CLI[@]}" --status pending)
contains "cli list: pending approvals" "$out" "$A2"
out=$("$WRIT" approvals show "${CLI[@]}" "$A2")
check "cli show: the approval" "$(jq -r .id <<<"$out")" "$A2"
out=$("$WRIT" approvals approve "${CLI[@]}" "$A2" --reason "ok by cli")
check "cli approve" "$(jq -r .status <<<"$out")" approved
"$WRIT" approvals deny "${CLI[@]}" "$A2" >/dev/null 2>&1
check "cli deny of a decided one: exit 1" "$?" 1
echo "$ALICE" >"$TMP/alice.tok"
"$WRIT" approvals deny --server "http://$ADDR" --token-file "$TMP/alice.tok" "$W1" --reason "wrong service" >/dev/null
check "cli deny as alice: exit 0" "$?" 0
"$WRIT" approvals list --server "http://$ADDR" >/dev/null 2>&1
check "cli without a token: exit 1 (401)" "$?" 1
# mistakes on the command line: what was wrong comes first, then the usage
out=$("$WRIT" approvals aprove "${CLI[@]}" "$A2" 2>&1)
check "cli typo in the command: exit 2" "$?" 2
check "cli typo in the command: named" "$(head -1 <<<"$out")" \
    "writ approvals: unknown command 'aprove' (list, show, approve or deny)"
out=$("$WRIT" approvals approve "${CLI[@]}" 2>&1)
check "cli approve without an id: said" "$(head -1 <<<"$out")" "writ approvals: approve needs an approval id"
out=$("$WRIT" approvals list "${CLI[@]}" --reason x 2>&1)
check "cli --reason on list: said" "$(head -1 <<<"$out")" "writ approvals: --reason goes with approve or deny, not list"
out=$("$WRIT" approvals list "${CLI[@]}" --stauts pending 2>&1)
check "cli unknown option: named" "$(head -1 <<<"$out")" "writ approvals: unknown option '--stauts'"
# an agent's text reaches a terminal through the API and the CLI: a C1 CSI
# (U+009B: "clear the screen", "cursor up" to overwrite a line), DEL, a bidi
# override and a variation selector come as \u escapes (the same JSON value),
# never as the raw characters a terminal acts on; other text stays as it is
r=$(ask payments 't-term\u009b2J' '{"to":"acct-\u009b2J\u202e1000\u202c\u007f","memo":"caf\u00e9\ufe0f"}')
TERM_ID=$(body "$r" | jq -r .context.approval.id)
req GET "/approvals/$TERM_ID" -H "Authorization: Bearer $ADMIN" >/dev/null
raw=$(cat "$TMP/body")
out=$("$WRIT" approvals show "${CLI[@]}" "$TERM_ID")
for what in "the API:$raw" "cli show:$out"; do
    text=${what#*:}
    LC_ALL=C grep -q $'\xc2\x9b\|\xe2\x80\xae\|\x7f\|\xef\xb8\x8f' <<<"$text" &&
        bad "${what%%:*}: raw terminal controls in $(od -c <<<"$text" | grep -m1 -n '302 233\|342 200 256\|177')" ||
        ok "${what%%:*}: no raw C1, DEL, bidi or variation selector"
    contains "${what%%:*}: escaped as \\u" "$text" '"acct-\u009b2J\u202e1000\u202c\u007f"'
    check "${what%%:*}: the same value" "$(jq -c '.input | map_values(explode)' <<<"$text")" \
        '{"memo":[99,97,102,233,65039],"to":[97,99,99,116,45,155,50,74,8238,49,48,48,48,8236,127]}'
    contains "${what%%:*}: other text as it is" "$text" 'caf'$'\xc3\xa9''\ufe0f'
done
# ... and the CLI escapes them itself, whatever server answers (an older one,
# or an error message that quotes the agent): a server of raw bytes
cat >"$TMP/rawsrv.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.endswith('/apr_ok')
        body = ('{"input":{"to":"a\u009b2J\u202e1\u007f\u200b"}}' if ok else '{"error":"\u009b1A\u001b[2Kno"}').encode()
        self.send_response(200 if ok else 403)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(sys.argv[1], 'w').write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$TMP/rawsrv.py" "$TMP/rawsrv.port" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$TMP/rawsrv.port" ] && break; sleep 0.1; done
out=$("$WRIT" approvals show --server "http://127.0.0.1:$(cat "$TMP/rawsrv.port")" --token x apr_ok)
check "cli show of a raw answer: escaped" "$out" '{"input":{"to":"a\u009b2J\u202e1\u007f\u200b"}}'
err=$("$WRIT" approvals show --server "http://127.0.0.1:$(cat "$TMP/rawsrv.port")" --token x apr_no 2>&1 >/dev/null)
check "cli error of a raw answer: escaped" "$err" 'writ approvals: HTTP 403: {"error":"\u009b1A\u001b[2Kno"}'

# ---- a short TTL: approvals expire
cat >"$TMP/short.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
identity_oidc = $IDP $TMP/oidc.json
admin_token_file = $TMP/admin.secret
approval_ttl = 2s
CONF
start_writ short --config "$TMP/short.conf"
r=$(ask payments t9 "$IN1")
E1=$(body "$r" | jq -r .context.approval.id)
r=$(dec "$E1" "$ALICE" '{"decision":"approve"}')
check "short ttl: approved" "$(code "$r")" 200
r=$(ask payments t9 "$IN2")
E2=$(body "$r" | jq -r .context.approval.id)
sleep 2.5
r=$(req GET "/approvals/$E1" -H "Authorization: Bearer $ALICE")
check "an approved approval not used in time: expired" "$(body "$r" | jq -r .status)" expired
r=$(req GET "/approvals/$E2" -H "Authorization: Bearer $ALICE")
check "a pending approval past its TTL: expired" "$(body "$r" | jq -r .status)" expired
r=$(dec "$E2" "$ALICE" '{"decision":"approve"}')
check "approve an expired approval: 409" "$(code "$r")" 409
r=$(ask payments t9 "$IN1")
check "after expiry: held again" "$(body "$r" | jq -r .decision)" false
E3=$(body "$r" | jq -r .context.approval.id)
[ "$E3" != "$E1" ] && ok "after expiry: a new approval" || bad "after expiry: $E3"
r=$(req GET "/approvals?status=expired" -H "Authorization: Bearer $ALICE")
check "list expired" "$(body "$r" | jq '.approvals | length')" 2
sleep 1.5 # the expiry sweep runs each second
stop_writ "$WPID"
q=$("$WRIT" audit query --state-dir "$TMP/short.state")
check "audit: expired step of E1" "$(jq -c --arg id "$E1" 'select(.errors[]?.approval.id == $id and .errors[]?.approval.step == "expired") | .errors' <<<"$q" | wc -l)" 1

# ---- the example policies and schema: the agent's owner approves (examples/policies.cedar)
cat >"$TMP/ex.conf" <<CONF
identity_oidc = $IDP $TMP/oidc.json
CONF
start_writ ex "${EXFILES[@]}" --config "$TMP/ex.conf"
EXREQ=$(jq -c '{subject: {type: "Agent", id: .principal.id}, action: {name: .action.id},
    resource: {type: "Service", id: .resource.id}, context: .context}' "$EX/requests/05-release-deploys-production.json")
r=$(post /access/v1/evaluation "$EXREQ")
X1=$(body "$r" | jq -r .context.approval.id)
check "example: the production deploy is held" "$(body "$r" | jq -r .context.approval.status)" pending
BOB=$(oidc bob '{"email":"bob@corp.example","department":"release","groups":["ops"],"amr":["pwd","otp"]}')
r=$(dec "$X1" "$ALICE" '{"decision":"approve"}')
check "example: alice does not own release-bot: 404" "$(code "$r")" 404
r=$(dec "$X1" "$BOB" '{"decision":"approve","reason":"release window"}')
check "example: bob, its owner, approves (claims the schema does not declare are left out)" "$(code "$r")" 200
r=$(post /access/v1/evaluation "$EXREQ")
check "example: the deploy is allowed once" "$(body "$r" | jq -r '.decision, .context.approval.status' | tr '\n' ' ')" "true consumed "
stop_writ "$WPID"

# ---- every step is an audit record naming the approval
stop_writ "$APPR_PID"
q=$("$WRIT" audit query --state-dir "$STATE")
steps() { jq -r --arg id "$1" '.errors[]? | select(.approval? and .approval.id == $id) | .approval.step' <<<"$q" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '; }
s=$(steps "$A1")
contains "audit A1: requested" "$s" "requested=1"
contains "audit A1: pending (asked again)" "$s" "pending=1"
contains "audit A1: approved" "$s" "approved=1"
contains "audit A1: consumed once" "$s" "consumed=1"
s=$(steps "$A3")
contains "audit A3: denied by the approver and on each later request" "$s" "denied=3"
r=$(jq -c --arg id "$A1" 'select(.errors[]?.approval? and .errors[0].approval.id == $id and .errors[0].approval.step == "approved")' <<<"$q")
check "audit: the approval step names the approver" "$(jq -r .agent <<<"$r")" 'Writ::User::"alice"'
r=$(jq -c 'select(.action == "Writ::Action::\"approve_request\"" and .decision == "deny" and .agent == "Writ::User::\"mallory\"")' <<<"$q" | head -1)
[ -n "$r" ] && ok "audit: the refused approver's Cedar decision" || bad "audit: no record of mallory's refusal"
check "audit: mallory's lists and reads are not recorded, her one POST is" \
    "$(jq -c 'select(.agent == "Writ::User::\"mallory\"")' <<<"$q" | wc -l)" 1
r=$(jq -c 'select(.agent == "Writ::User::\"root-bot\"" and .decision == "deny")' <<<"$q")
check "audit: the requester's two refused POSTs" "$(grep -c . <<<"$r")" 2
contains "... saying why" "$r" "nobody approves a request of their own identity"
# the agent's text in the log reaches the terminal escaped, as in the API
LC_ALL=C grep -q $'\xc2\x9b' <<<"$q" && bad "audit query: a raw U+009B (CSI) on the terminal" || ok "audit query: no raw C1"
check "audit query: the task id of the terminal test, escaped" \
    "$(grep -c '"task":"t-term\\u009b2J"' <<<"$q" | awk '{print ($1 > 0)}')" 1
check "... the same value" "$(jq -r 'select(.task | startswith("t-term")) | .task | explode | map(tostring) | join(",")' <<<"$q" | sort -u)" \
    "116,45,116,101,114,109,155,50,74"

# ---- the webhook's secret: made on the first start (0600), its path
# logged, never the secret; the same one after a restart
SECRET1=$(cat "$STATE/webhook.secret")
check "webhook secret: STATE_DIR/webhook.secret, mode 0600" "$(stat -c '%a %F' "$STATE/webhook.secret")" "600 regular file"
[[ "$SECRET1" =~ ^whsec_[A-Za-z0-9+/]{43}=$ ]] && ok "webhook secret: whsec_ and the base64 of 32 bytes" ||
    bad "webhook secret: not whsec_ + 32 bytes (${#SECRET1} characters)"
contains "webhook secret: its path logged at start" "$(cat "$TMP/appr.log")" "with the secret in $STATE/webhook.secret (made now"
grep -qF "${SECRET1#whsec_}" "$TMP/appr.log" && bad "webhook secret: logged" || ok "webhook secret: never logged"
[ -e "$TMP/short.state/webhook.secret" ] && bad "a server without approval_webhook made a webhook secret" ||
    ok "without approval_webhook no secret is made"
mv "$TMP/appr.log" "$TMP/appr.first.log"
start_writ appr --config "$TMP/writ.conf"
check "restart: the same secret" "$(cat "$STATE/webhook.secret")" "$SECRET1"
check "restart: the secret's mode kept" "$(stat -c %a "$STATE/webhook.secret")" 600
l=$(cat "$TMP/appr.log")
contains "restart: the secret's path logged" "$l" "with the secret in $STATE/webhook.secret"
[[ "$l" == *"made now"* ]] && bad "restart: a new secret made: $l" || ok "restart: no new secret made"
r=$(ask web t-restart "$IN1")
R1=$(body "$r" | jq -r .context.approval.id)
for _ in $(seq 100); do grep -q "$R1" "$HOOK/hook.jsonl" 2>/dev/null && break; sleep 0.1; done
check "restart: a new approval's POST verifies with the key the receiver kept" "$(grep -c "$R1" "$HOOK/hook.jsonl")" 1
check "restart: still no POST failing verification" "$(cat "$HOOK/bad" 2>/dev/null)" ""
stop_writ "$WPID"

# ---- a configured secret (the flag form): that key signs, none is made
python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(48)).decode())' >"$TMP/conf.secret"
chmod 600 "$TMP/conf.secret"
start_receiver "$TMP/hook2" "$TMP/conf.secret"
start_writ conf --config "$TMP/short.conf" --approval_webhook "http://127.0.0.1:$HOOK_PORT/hook" \
    --approval_webhook_secret_file "$TMP/conf.secret"
contains "configured secret: its path logged" "$(cat "$TMP/conf.log")" "with the secret in $TMP/conf.secret"
r=$(ask payments t-conf "$IN1")
C1=$(body "$r" | jq -r .context.approval.id)
for _ in $(seq 100); do grep -q "$C1" "$TMP/hook2/hook.jsonl" 2>/dev/null && break; sleep 0.1; done
check "configured secret: the approval delivered" "$(grep -c "$C1" "$TMP/hook2/hook.jsonl" 2>/dev/null)" 1
check "configured secret: the POST verifies with it" "$(jq -r .fault "$TMP/hook2/log.jsonl" | sort -u)" null
[ -e "$TMP/conf.state/webhook.secret" ] && bad "configured secret: one made in the state folder too" ||
    ok "configured secret: none made in the state folder"

# ---- rotation without a restart: the new secret beside the old (both
# sign: the receiver, which knows the old one only, still verifies), then
# the old one out (the receiver refuses until it learns the new one); a
# file that does not read on SIGHUP keeps the secrets in force
hup_until() { # TEXT: SIGHUP, then wait until the log says TEXT
    kill -HUP "$WPID"
    for _ in $(seq 50); do grep -qF "$1" "$TMP/conf.log" && break; sleep 0.1; done
}
OLD=$(cat "$TMP/conf.secret")
NEW=$(python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(32)).decode())')
printf '%s\n%s\n' "$NEW" "$OLD" >"$TMP/conf.secret"
hup_until "signed with the 2 secrets now"
contains "rotation: SIGHUP reads both secrets" "$(cat "$TMP/conf.log")" "POSTs signed with the 2 secrets now in $TMP/conf.secret"
r=$(ask payments t-rot1 "$IN1")
C2=$(body "$r" | jq -r .context.approval.id)
for _ in $(seq 100); do grep -q "$C2" "$TMP/hook2/hook.jsonl" 2>/dev/null && break; sleep 0.1; done
check "rotation: a receiver knowing the old secret only still verifies" "$(grep -c "$C2" "$TMP/hook2/hook.jsonl")" 1
verify_with() { # SECRET: does the last delivery verify with that secret alone?
    python3 - "$1" "$TMP/hook2/last.headers" "$TMP/hook2/last.body" <<'PY'
import base64, hashlib, hmac, sys
key = base64.b64decode(sys.argv[1][len('whsec_'):])
h = dict(l.split(': ', 1) for l in open(sys.argv[2]).read().splitlines())
body = open(sys.argv[3], 'rb').read()
mac = base64.b64encode(hmac.new(key, (h['webhook-id'] + '.' + h['webhook-timestamp'] + '.').encode() + body,
                                hashlib.sha256).digest()).decode()
sigs = [s[3:] for s in h['webhook-signature'].split(' ') if s.startswith('v1,')]
print(len(sigs), any(hmac.compare_digest(mac, s) for s in sigs))
PY
}
check "rotation: two signatures, one verifying with the new secret" "$(verify_with "$NEW")" "2 True"
check "rotation: ... and one with the old" "$(verify_with "$OLD")" "2 True"
echo "not a secret" >"$TMP/conf.secret"
hup_until "did not read"
contains "rotation: a file that does not read keeps the secrets in force" "$(cat "$TMP/conf.log")" \
    "the secret file did not read, the secrets in force stay: approval_webhook_secret_file $TMP/conf.secret: line 1:"
printf '%s\n' "$NEW" >"$TMP/conf.secret"
hup_until "signed with the 1 secret now"
contains "rotation: the old secret taken out" "$(cat "$TMP/conf.log")" "POSTs signed with the 1 secret now in $TMP/conf.secret"
r=$(ask payments t-rot2 "$IN1")
C3=$(body "$r" | jq -r .context.approval.id)
for _ in $(seq 100); do grep -q "signature does not verify" "$TMP/hook2/bad" 2>/dev/null && break; sleep 0.1; done
contains "rotation: the receiver knowing the old secret only now refuses" "$(cat "$TMP/hook2/bad" 2>/dev/null)" "signature does not verify"
grep -qF "${NEW#whsec_}" "$TMP/conf.log" && bad "rotation: a secret logged" || ok "rotation: no secret logged"
stop_writ "$WPID"

# ---- a malformed or missing secret file: writ serve refuses to start,
# naming the file and what is wrong
bad_secret() {   # NAME FILE WANT
    local out rc
    out=$(timeout 20 "$WRIT" serve --policies "$TMP/policies.cedar" --listen 127.0.0.1:0 --state-dir "$TMP/badsec.state" \
        --approval_webhook http://127.0.0.1:9/hook --approval_webhook_secret_file "$2" 2>&1)
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "$1: writ serve exits $rc" || bad "$1: writ serve exit $rc: $out"
    contains "$1: the message names the file" "$out" "approval_webhook_secret_file $2"
    contains "$1: ... and what is wrong" "$out" "$3"
    [[ "$out" == *serving* ]] && bad "$1: it served" || ok "$1: it never served"
}
printf 'whsec_%s\n' "$(head -c 16 /dev/urandom | base64)" >"$TMP/short.secret"
bad_secret "a 16-byte secret" "$TMP/short.secret" "decodes to 16 bytes, not 24 to 64"
printf '%s\n' "$(head -c 32 /dev/urandom | base64)" >"$TMP/noprefix.secret"
bad_secret "a secret without whsec_" "$TMP/noprefix.secret" "does not start with whsec_"
printf 'whsec_%s\n' "$(head -c 33 /dev/zero | tr '\0' '\373' | base64 | tr '+/' '-_')" >"$TMP/url.secret"
bad_secret "a base64url secret" "$TMP/url.secret" "base64url, not base64"
: >"$TMP/empty.secret"
bad_secret "an empty secret file" "$TMP/empty.secret" "it holds no secret"
bad_secret "a missing secret file" "$TMP/none.secret" "No such file"
out=$(timeout 20 "$WRIT" serve --policies "$TMP/policies.cedar" --listen 127.0.0.1:0 --state-dir "$TMP/ftp.state" \
    --approval_webhook ftp://127.0.0.1/hook 2>&1)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "an ftp:// webhook: writ serve exits $rc" || bad "an ftp:// webhook: exit $rc: $out"
contains "... saying why" "$out" "'ftp://127.0.0.1/hook' is not an http:// or https:// URL"
[ -e "$TMP/ftp.state/webhook.secret" ] && bad "... but made a webhook secret first" || ok "... before making a secret"
[ -e "$TMP/badsec.state/webhook.secret" ] && bad "a refused start made a secret" || ok "a refused start made no secret"
# ---- a webhook receiver that hangs holds a shutdown 5 s in all, not 5 s a
# queued approval (12 of them took 59 s), so the audit log's closing
# checkpoint is still signed by a supervisor's grace period
cat >"$TMP/hang.py" <<'PY'
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept(); held.append(c)  # reads nothing, answers nothing
PY
python3 "$TMP/hang.py" "$TMP/hang.port" &
PIDS+=("$!")
for _ in $(seq 50); do [ -s "$TMP/hang.port" ] && break; sleep 0.1; done
sed "s|^approval_ttl = 2s|approval_webhook = http://127.0.0.1:$(cat "$TMP/hang.port")/hook|" "$TMP/short.conf" >"$TMP/hang.conf"
start_writ hang --config "$TMP/hang.conf"
for i in 1 2 3 4 5 6 7 8; do ask payments "th$i" "{\"version\":\"$i\"}" >/dev/null; done
t0=$(date +%s%N)
stop_writ "$WPID"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 8000 ] && ok "a hanging webhook with 8 queued: stopped in $ms ms" || bad "a hanging webhook: stopping took $ms ms"
contains "... giving up on what was left, logged" "$(cat "$TMP/hang.log")" "stopping: gave up on"
contains "... and the audit log closed after it" "$(cat "$TMP/hang.log")" "audit log closed"
# an @approval value other than "required" (a typo) is refused, not read as "no approval"
printf '@id("typo")\n@approval("Required")\npermit (principal, action, resource);\n' >"$TMP/typo.cedar"
out=$(timeout 10 "$WRIT" serve --policies "$TMP/typo.cedar" --listen 127.0.0.1:0 --state-dir "$TMP/typo.state" 2>&1)
check "@approval(\"Required\"): writ serve refuses to start" "$?" 1
contains "@approval(\"Required\"): says which policy and why" "$out" 'policy typo: @approval("Required"): the one value is "required"'
finish
