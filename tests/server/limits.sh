#!/usr/bin/env bash
# limits.sh - hostile and heavy clients stay bounded: slowloris (stalled
# headers, headers or bodies dripped a byte at a time) is cut by the timeouts, many concurrent
# connections are served, and past max_connections extra ones wait while
# the server stays healthy.
. "$(dirname "$0")/lib.sh"

start_writ limits "${EXFILES[@]}" --timeout 2 --max-connections 300
host=${ADDR%:*}; port=${ADDR##*:}

# ---- slowloris: 40 connections send half a header and stall
bg=()
for i in $(seq 40); do
    ( exec 3<>"/dev/tcp/$host/$port" || exit 9
      printf 'POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&3
      timeout 8 cat <&3 >/dev/null; echo $? >"$TMP/slow.$i" ) &
    bg+=($!)
done
sleep 0.5
r=$(req GET /healthz); contains "served while slowloris connections stall" "$r" '200 {"status":"ok"'
wait "${bg[@]}"
cut=$(cat "$TMP"/slow.* | grep -c '^0$')
check "stalled connections cut by the idle timeout" "$cut" 40

# ---- a body dripped one byte a second is cut after the timeout: timed
# from the request's start to the server closing the connection (EOF)
start=$(date +%s%N)
( exec 3<>"/dev/tcp/$host/$port"
  printf 'POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n' >&3
  ( for _ in $(seq 10); do printf ' ' >&3 2>/dev/null || break; sleep 1; done ) &
  timeout 12 cat <&3 >/dev/null
  kill $! 2>/dev/null ) 2>/dev/null
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$took" -le 6000 ] && ok "dripped body cut (${took} ms)" || bad "dripped body lasted ${took} ms"

# ---- headers dripped one byte a second: the idle timeout alone restarts on
# every byte, so the headers get their own limit: complete within `timeout`
# of the connection's start (or of the previous response on a keep-alive
# connection), else the connection is cut.  Timed to the server's close.
# drip_headers FIRST: send FIRST at once, then a request's headers one byte
# a second; prints the milliseconds from the start to the close.
drip_headers() {
    local first=$1 slow=$'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa'
    local t0; t0=$(date +%s%N)
    ( exec 3<>"/dev/tcp/$host/$port"
      printf '%b' "$first" >&3
      ( for i in $(seq ${#slow}); do printf '%s' "${slow:i-1:1}" >&3 2>/dev/null || break; sleep 1; done ) &
      timeout 15 cat <&3 >"$TMP/drip.out"
      kill $! 2>/dev/null ) 2>/dev/null
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
took=$(drip_headers '')
[ "$took" -le 3500 ] && ok "dripped headers cut (${took} ms, timeout 2 s)" || bad "dripped headers lasted ${took} ms"
[ "$took" -ge 1500 ] && ok "dripped headers not cut before the timeout (${took} ms)" \
    || bad "dripped headers cut early: ${took} ms"
took=$(drip_headers 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
contains "keep-alive: the first request answered" "$(cat "$TMP/drip.out")" '"status":"ok"'
[ "$took" -le 3500 ] && ok "keep-alive: the next request's dripped headers cut (${took} ms)" \
    || bad "keep-alive: dripped headers lasted ${took} ms"
# a keep-alive connection that sends requests at once is not cut by it
out=$( exec 3<>"/dev/tcp/$host/$port"
       { printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1.5
         printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1.5
         printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; } >&3
       timeout 10 cat <&3 | grep -ao 'HTTP/1.1 200' | wc -l)
check "keep-alive requests within the timeout are served" "$out" 3
m=$(curl -s -m 5 "http://$ADDR/metrics")
# (the stalled slowloris connections above may count too: whichever limit cut them first)
n=$(awk '/^writ_header_timeouts_total/ {print $2}' <<<"$m")
[ "${n:-0}" -ge 2 ] && ok "metrics: header timeouts counted ($n)" || bad "metrics: header timeouts: <$n>"
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0

# The load phases get a server with the default idle timeout: under a
# loaded machine a keep-alive connection of wrk's can wait near 2 s for
# its turn, and the 2 s timeout above would then close it (a read error).
start_writ limits2 "${EXFILES[@]}" --max-connections 300

# ---- many concurrent connections
eval_json analyst read Dataset usage-metrics >"$TMP/allow.json"
wrk_eval 3 200 "$TMP/allow.json" "$TMP/wrk.out"
total=$(wrk_total "$TMP/wrk.out")
[ "${total:-0}" -gt 200 ] && ok "200 concurrent connections served ($total requests)" || bad "wrk: $(cat "$TMP/wrk.out")"
check "no errors with 200 connections" "$(wrk_non2xx "$TMP/wrk.out") $(wrk_sockerr "$TMP/wrk.out")" "0 0"

# ---- past max_connections: 400 connections against a limit of 300.  At the
# limit libmicrohttpd stops accepting; the rest wait in the kernel's backlog
# until a slot frees (or their client gives up), so memory stays bounded.
wrk_eval 2 400 "$TMP/allow.json" "$TMP/wrk2.out"
total=$(wrk_total "$TMP/wrk2.out")
[ "${total:-0}" -gt 100 ] && ok "served within the limit ($total requests)" || bad "wrk: $(cat "$TMP/wrk2.out")"
r=$(req GET /healthz); contains "healthy after the flood" "$r" '200 {"status":"ok"'
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0
finish
