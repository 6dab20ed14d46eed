#!/usr/bin/env bash
# audit_kill.sh - kill -9 under load loses no answered decision: a client
# sends evaluations and revocations, each with a unique id, and notes every
# answer; the server is killed mid-load and restarted on the same state; then
# every answered allow and every answered revocation has its audit record
# (matched by id), the chain and its signed checkpoints verify.
. "$(dirname "$0")/lib.sh"
LOAD="$(dirname "$0")/clients/audit_load.py"

admin_secret
cat >"$TMP/writ.conf" <<CONF
admin_token_file = $TMP/admin.secret
audit_checkpoint_every = 500
CONF

for round in 1 2; do
    start_writ kill "${EXFILES[@]}" --config "$TMP/writ.conf"
    python3 "$LOAD" "$ADDR" 6 8 "$TMP/answers.$round" --tag "$round" --admin "$(cat "$TMP/admin.secret")" --revoke-every 40 &
    load=$!
    sleep $((1 + round))
    stop_writ "$WPID" KILL
    wait "$load"
    check "round $round: killed with -9" "$STOP_RC" 137
done
# restarting checks the tail against the last checkpoint, then signs it
start_writ kill "${EXFILES[@]}" --config "$TMP/writ.conf"
stop_writ "$WPID" TERM
check "restart after kill -9, then SIGTERM" "$STOP_RC" 0

cat "$TMP"/answers.* >"$TMP/answers"
allows=$(grep -c '^allow ' "$TMP/answers")
revokes=$(grep -c '^revoked ' "$TMP/answers")
[ "$allows" -gt 1000 ] && ok "load ran ($allows allows answered)" || bad "too few allows answered: $allows"
[ "$revokes" -gt 10 ] && ok "revocations ran ($revokes answered)" || bad "too few revocations answered: $revokes"

v=$("$WRIT" audit verify --state-dir "$TMP/kill.state"); rc=$?
check "verify after two kills and a restart" "$rc" 0
[[ "$v" == *"come after"* ]] && bad "unsigned tail after SIGTERM: $v" || ok "checkpoints cover the whole log"
contains "the tails left by kill -9 were signed at the restarts, and said so" "$v" \
    "were signed only when a server restarted after stopping without signing them"
"$WRIT" audit query --state-dir "$TMP/kill.state" >"$TMP/log.jsonl"
jq -r 'select(.decision == "allow") | .task' "$TMP/log.jsonl" | sort -u >"$TMP/logged.allow"
jq -r 'select(.action | endswith("\"revoke\"")) | select(.decision == "allow") | .resource' "$TMP/log.jsonl" |
    sed -n 's/^Revocation::"task:\(.*\)"$/\1/p' | sort -u >"$TMP/logged.revoke"
grep '^allow ' "$TMP/answers" | cut -d' ' -f2 | sort -u >"$TMP/answered.allow"
grep '^revoked ' "$TMP/answers" | cut -d' ' -f2 | sort -u >"$TMP/answered.revoke"
lost=$(comm -23 "$TMP/answered.allow" "$TMP/logged.allow" | wc -l)
lostr=$(comm -23 "$TMP/answered.revoke" "$TMP/logged.revoke" | wc -l)
echo "   ($allows allows and $revokes revocations answered; $(wc -l <"$TMP/logged.allow") allows and" \
    "$(wc -l <"$TMP/logged.revoke") revocations in the log)"
check "every answered allow has its record" "$lost" 0
check "every answered revocation has its record" "$lostr" 0
[ "$lost" -eq 0 ] || comm -23 "$TMP/answered.allow" "$TMP/logged.allow" | head -5
finish
