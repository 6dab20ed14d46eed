#!/usr/bin/env bash
# replicas_silent.sh - a Redis that stops answering (SIGSTOP: its socket
# open, no reply; a hung server or a partition that drops packets) holds a
# `writ serve` worker for the store's timeout (state_timeout_ms, 1 s here)
# once, not once per request nor once per second: the calls after the first fail at once,
# closed (a deny saying the state store did not answer), and only the
# revocation feed's thread asks Redis again, so the replica keeps
# answering, the requests that need no store included.  When Redis answers
# again the replica uses it again within a second or two, no restart.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { bad "jq installed"; finish; }

start_redis_plain # sets rport
RPID=$(pgrep -f "redis-server 127.0.0.1:$rport" | head -1)
[ -n "$RPID" ] || { bad "redis-server's pid"; finish; }
trap 'kill -CONT "$RPID" 2>/dev/null; cleanup' EXIT # a stopped server would not take the TERM

cat >"$TMP/p.cedar" <<'CEDAR'
@id("write-all")
permit (principal, action == Writ::Action::"write", resource);

@id("writes-per-task")
forbid (principal, action == Writ::Action::"write", resource)
when { context.history.writes_per_task >= 1000 };

@id("read-all")
permit (principal, action == Writ::Action::"read", resource);
CEDAR
echo '[]' >"$TMP/e.json"
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/p.cedar
entities = $TMP/e.json
state = redis://127.0.0.1:$rport/0
state_timeout_ms = 1000
limit = writes_per_task 1h write per task
CONF
start_writ silent --config "$TMP/writ.conf" --threads 2

body() { echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"bot\"},\"action\":{\"name\":\"$1\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"d\"},\"context\":{\"task\":{\"id\":\"t1\",\"purpose\":\"etl\"}}}"; }
r=$(post /access/v1/evaluation "$(body write)")
check "Redis answering: a write counted and allowed" "$(echo "${r#* }" | jq -r .decision)" true

kill -STOP "$RPID"
mkdir -p "$TMP/out"
t0=$(date +%s%N)
CURLS=()
for i in $(seq 1 10); do
    curl -s -m 30 -o "$TMP/out/w$i" -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$(body write)" "http://$ADDR/access/v1/evaluation" >"$TMP/out/t$i" &
    CURLS+=($!)
done
sleep 0.3 # the first ones are waiting on Redis now
curl -s -m 30 -o "$TMP/out/h" -w '%{time_total}' "http://$ADDR/healthz" >"$TMP/out/th" &
CURLS+=($!)
curl -s -m 30 -o "$TMP/out/r" -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
    --data-binary "$(body read)" "http://$ADDR/access/v1/evaluation" >"$TMP/out/tr" &
CURLS+=($!)
wait "${CURLS[@]}"
t1=$(date +%s%N)
all=$(( (t1 - t0) / 1000000 ))
denied=$(cat "$TMP"/out/w* | jq -s '[.[] | select(.decision == false)] | length')
check "Redis silent: 10 concurrent writes each denied (fail closed)" "$denied" 10
contains "... saying the state store did not answer" "$(cat "$TMP/out/w1")" 'redis'
contains "... within state_timeout_ms" "$(cat "$TMP"/out/w*)" 'it did not answer within 1000 ms'
# Every write waits about 1 s here (two workers, the others queued behind
# the first two), so the reason, not the time, tells who asked Redis: the
# first on each worker waited the timeout out; every later one was answered
# by the open breaker at once and says so.
asked=0; told=0; : >"$TMP/why"
for i in $(seq 1 10); do
    m=$(grep -o '"message":"[^"]*"' "$TMP/out/w$i" | head -1)
    case $m in
    *'not asked: it did not answer within'*) told=$((told + 1)) ;;
    *'redis: '*': no reply within the timeout"') asked=$((asked + 1)) ;; # PING on a new connection, or the command
    *) echo "w$i: $m" >>"$TMP/why" ;;
    esac
done
[ "$asked" -le 2 ] && [ $((asked + told)) = 10 ] &&
    ok "... $asked asked Redis and waited (the first on each worker); $told were not asked, and say why" ||
    bad "... $asked asked Redis, $told not asked, others: $(cat "$TMP/why")"
[ "$all" -lt 3000 ] && ok "... all answered in $all ms (were each to wait its 1 s: 5 s or more on 2 workers)" ||
    bad "... all answered in $all ms"
th=$(cat "$TMP/out/th"); tr_=$(cat "$TMP/out/tr")
awk -v a="$th" -v b="$tr_" 'BEGIN {exit !(a < 2 && b < 2)}' && ok "a health check and a read (no store) answered meanwhile: ${th} s, ${tr_} s" ||
    bad "a health check and a read took ${th} s, ${tr_} s"
check "... the read allowed" "$(jq -r .decision "$TMP/out/r")" true

# Still silent, past the breaker's hold (1 s) and its renewals: the
# revocation feed's thread keeps asking Redis, so no request does.  A write
# every 100 ms for 5 s, two at a time, and a health check each: none waits
# (with requests asking again after each hold, one would wait 1 s about
# every 3 s).
t0=$(date +%s%N)
CURLS=()
for i in $(seq 11 60); do
    curl -s -m 30 -o "$TMP/out/w$i" -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$(body write)" "http://$ADDR/access/v1/evaluation" >"$TMP/out/t$i" &
    CURLS+=($!)
    curl -s -m 30 -o /dev/null -w '%{time_total}' "http://$ADDR/healthz" >"$TMP/out/th$i" &
    CURLS+=($!)
    sleep 0.1
done
wait "${CURLS[@]}"
told=$(for i in $(seq 11 60); do cat "$TMP/out/w$i"; done | jq -s '[.[] | select(.decision == false and
    (.context.errors[0].message | contains("not asked: it did not answer within")))] | length')
check "still silent for 5 s more: 50 more writes denied, none asking Redis" "$told" 50
slowest=$(for i in $(seq 11 60); do cat "$TMP/out/t$i"; echo; cat "$TMP/out/th$i"; echo; done | sort -g | tail -1)
awk -v t="$slowest" 'BEGIN {exit !(t < 0.5)}' && ok "... they and 50 health checks each answered at once (slowest ${slowest} s)" ||
    bad "... the slowest of them took ${slowest} s (a request asked Redis?)"
contains "... the feed asks instead" "$(cat "$TMP/out/w60")" 'the revocation feed asks again'

kill -CONT "$RPID"
back=
for i in $(seq 1 40); do
    r=$(post /access/v1/evaluation "$(body write)")
    if [ "$(echo "${r#* }" | jq -r .decision)" = true ]; then back=$i; break; fi
    sleep 0.1
done
[ -n "$back" ] && ok "Redis answering again: writes allowed again after $back tries (100 ms apart)" ||
    bad "Redis answering again: writes still denied after 4 s: ${r#* }"
kill -0 "$WPID" 2>/dev/null && ok "the server is running" || bad "the server died"
finish
