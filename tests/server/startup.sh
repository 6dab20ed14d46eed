#!/usr/bin/env bash
# startup.sh - mistakes a new user makes when starting `writ serve`, each
# refused before anything is written, saying what is wrong and what to do:
# a second server on a state folder in use (it used to share the audit log,
# sign a checkpoint over the first server's records and answer 503), a
# listen address in use (it used to open and sign the log first), a typo
# in a flag or a config file (the error used to sit above 80 lines of usage,
# with no hint of the right name, and a JSON config's had no position).
. "$(dirname "$0")/lib.sh"

ckpts() { sqlite3 "$1/writ.db" 'SELECT count(*) FROM audit_checkpoint'; }
REQ=$(eval_json analyst read Dataset usage-metrics)

# ---- a state folder in use by another writ serve
start_writ first "${EXFILES[@]}"
FIRST=$WPID
contains "first server decides" "$(post /access/v1/evaluation "$REQ")" '200 {"decision":true'
before=$(ckpts "$TMP/first.state")
out=$(timeout 10 "$WRIT" serve "${EXFILES[@]}" --listen 127.0.0.1:0 --state-dir "$TMP/first.state" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && ok "second server on the same state folder refused (rc $rc)" ||
    bad "second server on the same state folder started"
contains "says the folder is in use" "$out" "state folder $TMP/first.state is in use by another writ serve (pid $FIRST)"
contains "says what to do" "$out" "--state-dir DIR"
check "no checkpoint written into the first server's log" "$(ckpts "$TMP/first.state")" "$before"
contains "first server still decides" "$(post /access/v1/evaluation "$REQ")" '200 {"decision":true'

# ---- a listen address in use: refused before the state folder is made
out=$(timeout 10 "$WRIT" serve "${EXFILES[@]}" --listen "$ADDR" --state-dir "$TMP/second.state" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && ok "listen address in use refused (rc $rc)" || bad "listen address in use: started"
contains "names the address" "$out" "cannot listen on $ADDR: the address is in use"
contains "says how to choose another" "$out" "--listen HOST:PORT"
[ -e "$TMP/second.state" ] && bad "port in use: state folder created" || ok "port in use: nothing created"

# the folder is free again once its server stopped (the lock goes with the process)
stop_writ "$FIRST" TERM
check "first server stopped cleanly" "$STOP_RC" 0
v=$("$WRIT" audit verify --state-dir "$TMP/first.state" 2>&1)
check "its log verifies" "$?" 0
case "$v" in
*"signed only when a server restarted"*) bad "log reports adopted records: <$v>" ;;
*) ok "no records adopted from another server" ;;
esac
start_writ first "${EXFILES[@]}"
contains "a new server on the freed folder decides" "$(post /access/v1/evaluation "$REQ")" '200 {"decision":true'
# killed, not stopped: the lock still goes with it
stop_writ "$WPID" KILL
start_writ first "${EXFILES[@]}"
contains "a new server after kill -9 decides" "$(post /access/v1/evaluation "$REQ")" '200 {"decision":true'
stop_writ "$WPID" TERM

# ---- typos: the error, a suggestion, and no wall of usage
out=$("$WRIT" serve --policies "$EX/policies.cedar" --lisen 127.0.0.1:0 2>&1)
check "flag typo: exit status 2" "$?" 2
check "flag typo: the error and a pointer to --help" "$out" \
    "writ serve: unknown flag '--lisen' (did you mean '--listen'?)
(writ serve --help lists every setting)"
out=$("$WRIT" serve --policies "$EX/policies.cedar" --state_dri x 2>&1)
contains "flag typo with underscores" "$out" "unknown flag '--state_dri' (did you mean '--state-dir'?)"
out=$("$WRIT" serve --policies "$EX/policies.cedar" --frobnicate 1 2>&1)
check "no near name: no suggestion" "$(head -1 <<<"$out")" "writ serve: unknown flag '--frobnicate'"
printf 'listen = 127.0.0.1:0\npolicys = %s\n' "$EX/policies.cedar" >"$TMP/typo.conf"
out=$("$WRIT" serve --config "$TMP/typo.conf" 2>&1)
check "config typo: exit status 2" "$?" 2
check "config typo: file, line and suggestion" "$(head -1 <<<"$out")" \
    "writ serve: $TMP/typo.conf:2: unknown setting 'policys' (did you mean 'policies'?)"
check "config typo: two lines, not the usage" "$(wc -l <<<"$out")" 2
# a JSON config: the place of the member that is wrong
printf '{\n  "policies": "%s",\n  "listen": 5,\n  "polcies": "x"\n}\n' "$EX/policies.cedar" >"$TMP/bad1.json.conf"
out=$("$WRIT" serve --config "$TMP/bad1.json.conf" 2>&1)
check "JSON config, bad value: line:col of the value" "$(head -1 <<<"$out")" \
    "writ serve: $TMP/bad1.json.conf:3:13: listen: expected HOST:PORT, got '5'"
printf '{\n  "policies": "%s",\n  "polcies": "x"\n}\n' "$EX/policies.cedar" >"$TMP/bad2.json.conf"
out=$("$WRIT" serve --config "$TMP/bad2.json.conf" 2>&1)
check "JSON config, unknown member: line:col of its name" "$(head -1 <<<"$out")" \
    "writ serve: $TMP/bad2.json.conf:3:3: unknown setting 'polcies' (did you mean 'policies'?)"
printf '{"policies": "%s",\n "route": [\n  "GET /a/{id} read Dataset {id}",\n  "GET /b"]}\n' "$EX/policies.cedar" >"$TMP/bad3.json.conf"
out=$("$WRIT" serve --config "$TMP/bad3.json.conf" 2>&1)
contains "JSON config, a bad item of a list: its line:col" "$(head -1 <<<"$out")" \
    "writ serve: $TMP/bad3.json.conf:4:3: route: expected METHOD PATTERN"
out=$("$WRIT" serve --help 2>&1)
contains "--help still lists the settings" "$out" "--approval-webhook-secret-file"
finish
