#!/usr/bin/env bash
# console.sh - the approvals page as an approver uses it, in Debian's
# chromium (headless, puppeteer-core from tests/peers): an agent's deploy is
# held; the approver signs in with an OIDC token, sees the pending approval
# (agent, owner, task, arguments, shown as text), approves it with a
# reason; the agent's retried request is then allowed, once.  Then, with
# five more pending, the list in pages of two and "More".  Then the agent's
# tricks: a bidi override in the arguments (shown as a mark, not reordered),
# and a new request while the approver reads (the card stays under the
# pointer; the click there decides it).  An approver whom no policy lets
# decide sees nothing, and the page asks the server one short page a load.
# Also: the page's security headers,
# and screenshots for docs/ (WRIT_SHOTS=DIR).
source "$(dirname "$0")/lib.sh"
PEERS="$REPO/tests/peers"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/puppeteer-core" ] || [ ! -x "$CHROMIUM" ]; then
    echo "console: SKIPPED, node, puppeteer-core or $CHROMIUM missing"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
peer keys "$TMP" || { bad "jose keys"; finish; }
IDP=https://idp.example
ALICE=$(peer oidc "$TMP" "$IDP" alice '{"email":"alice@corp.example"}')
BOB=$(peer oidc "$TMP" "$IDP" bob '{"email":"bob@corp.example"}')   # owns no agent: decides none

cat >"$TMP/policies.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service)
when { resource.environment == "production" };

@id("owner-approves")
permit (principal is Writ::User, action == Writ::Action::"approve_request", resource is Writ::Approval)
when { context.claims has email && resource.agent has owner && resource.agent.owner == context.claims.email };
CEDAR
cat >"$TMP/entities.json" <<'JSON'
[{"uid":{"type":"Writ::Service","id":"payments"},"attrs":{"environment":"production"},"parents":[]},
 {"uid":{"type":"Writ::Agent","id":"release-bot"},"attrs":{"owner":"alice@corp.example"},"parents":[]}]
JSON
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
identity_oidc = $IDP $TMP/oidc.json
CONF
start_writ console --config "$TMP/writ.conf"

# the page and its headers
curl -s -D "$TMP/h" -o "$TMP/page" "http://$ADDR/console/approvals"
hdrs=$(tr -d '\r' <"$TMP/h")
contains "page served" "$(cat "$TMP/page")" "<title>Writ · approvals</title>"
contains "CSP: no inline script, nothing from elsewhere" "$hdrs" "Content-Security-Policy: default-src 'none'; script-src 'self'"
contains "CSP: not framed" "$hdrs" "frame-ancestors 'none'"
contains "X-Frame-Options" "$hdrs" "X-Frame-Options: DENY"
check "an unknown page: 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/console/nope")" 404
check "no directory walk" "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "http://$ADDR/console/../console/approvals")" 404

ASK='{"subject":{"type":"Agent","id":"release-bot"},"action":{"name":"deploy"},
  "resource":{"type":"Service","id":"payments"},"context":{"task":{"id":"rel-77","purpose":"ship 2.4.1"},
  "input":{"version":"2.4.1","environment":"production","note":"<img src=x onerror=alert(1)>"}}}'
r=$(post /access/v1/evaluation "$ASK")
check "held for approval" "$(jq -c '[.decision, .context.approval.status]' <<<"${r#* }")" '[false,"pending"]'
ID=$(jq -r .context.approval.id <<<"${r#* }")

mkdir -p "$TMP/shots"
CHROMIUM="$CHROMIUM" node "$REPO/tests/server/console.mjs" "http://$ADDR" "$ALICE" "$ID" "$TMP/shots" "$ASK" "$BOB" >"$TMP/drive.out" 2>&1
while read -r line; do
    case "$line" in
    "ok   "*) ok "${line#ok   }" ;;
    "FAIL "*) bad "${line#FAIL }" ;;
    *) echo "  $line" ;;
    esac
done <"$TMP/drive.out"
grep -q "^ok   console: approved card leaves" "$TMP/drive.out" || bad "the browser run did not finish"

r=$(post /access/v1/evaluation "$ASK")
check "after approval in the page: allowed" "$(jq -c .decision <<<"${r#* }")" true
r=$(post /access/v1/evaluation "$ASK")
check "only once" "$(jq -c '[.decision, .context.approval.status]' <<<"${r#* }")" '[false,"pending"]'
r=$(req GET "/approvals/$ID" -H "Authorization: Bearer $ALICE")
check "decided by alice with her reason" "$(jq -c '[.status, .decided_by, .reason]' <<<"${r#* }")" \
    '["consumed","Writ::User::\"alice\"","release 2.4.1 signed off"]'
for f in console-signin.png console-approvals.png console-approved.png; do
    [ -s "$TMP/shots/$f" ] && ok "screenshot $f" || bad "screenshot $f"
done
[ -n "${WRIT_SHOTS:-}" ] && cp "$TMP"/shots/*.png "$WRIT_SHOTS"/
finish
