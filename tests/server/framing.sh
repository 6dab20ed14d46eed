#!/usr/bin/env bash
# framing.sh - requests whose framing two HTTP parsers could read two ways
# are refused (400, connection closed) by the real server, from a raw
# socket: Content-Length with Transfer-Encoding, two Content-Lengths, a
# Transfer-Encoding other than chunked, bare LF line ends (anywhere: the
# request line, a header, the last header, the empty line), obs-fold
# continuation lines, a bare CR in a value, a space before a header's colon,
# HTTP/1.1 without Host.  Well-formed requests (chunked bodies, HTTP/1.0,
# leading empty lines, keep-alive) are still served.
. "$(dirname "$0")/lib.sh"

start_writ framing "${EXFILES[@]}"
host=${ADDR%:*}; port=${ADDR##*:}

# raw REQUEST (printf %b escapes): the status line's code and the rest of
# the answer in $TMP/raw.out; "none" if the server closed without one.
raw() {
    rm -f "$TMP/raw.out"
    # one write (bash's printf may write a request in pieces, and the server
    # closing after its 400 would then reset the connection under the rest)
    printf '%b' "$1" >"$TMP/raw.req"
    ( trap '' PIPE
      exec 3<>"/dev/tcp/$host/$port" || exit 1
      cat "$TMP/raw.req" >&3
      timeout 5 cat <&3 >"$TMP/raw.out" ) 2>/dev/null
    touch "$TMP/raw.out"
    local code; code=$(head -c 12 "$TMP/raw.out" | sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\)|\1|p')
    echo "${code:-none}"
}
# closed: did the server end the connection on its own after answering?
closed() { grep -qi '^Connection: close' "$TMP/raw.out" && echo yes || echo no; }

body=$(eval_json analyst read Dataset usage-metrics)
len=${#body}
eval_req() {   # eval_req EXTRA-HEADERS [LINE-END] [BODY]
    local e=${2:-'\r\n'}
    echo "POST /access/v1/evaluation HTTP/1.1${e}Host: x${e}Content-Type: application/json${e}$1Connection: close${e}${e}${3-$body}"
}

# ---- well-formed requests are served
check "plain POST" "$(raw "$(eval_req "Content-Length: $len\r\n")")" 200
contains "plain POST decides" "$(cat "$TMP/raw.out")" '"decision":true'
chunked=$(printf '%x' "$len")
check "chunked POST" "$(raw "$(eval_req 'Transfer-Encoding: chunked\r\n' '\r\n' "$chunked\r\n$body\r\n0\r\n\r\n")")" 200
contains "chunked POST decides" "$(cat "$TMP/raw.out")" '"decision":true'
check "HTTP/1.0 without headers" "$(raw 'GET /healthz HTTP/1.0\r\n\r\n')" 200
check "leading empty lines" "$(raw '\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')" 200
check "tab inside a value" "$(raw 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\nConnection: close\r\n\r\n')" 200
out=$( exec 3<>"/dev/tcp/$host/$port"
       printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
       timeout 5 cat <&3 | grep -ao 'HTTP/1.1 200' | wc -l)
check "pipelined keep-alive requests" "$out" 2
# headers arriving in pieces, cut mid-line and between CR and LF, and a big header
out=$( exec 3<>"/dev/tcp/$host/$port"
       printf 'GET /healthz HTTP/1.1\r\nHo' >&3; sleep 0.2; printf 'st: x\r' >&3; sleep 0.2
       printf '\nX-Big: %s\r\nConnection: close\r\n' "$(head -c 8000 /dev/zero | tr '\0' a)" >&3; sleep 0.2
       printf '\r\n' >&3
       timeout 5 cat <&3 | head -c 12)
check "headers in pieces" "$out" "HTTP/1.1 200"

# ---- ambiguous framing: 400 and the connection closed
refused() {   # refused NAME REQUEST
    local code; code=$(raw "$2")
    check "$1: 400" "$code" 400
    [ "$code" = 400 ] && check "$1: connection closed" "$(closed)" yes
}
refused "Content-Length with Transfer-Encoding" \
    "$(eval_req "Content-Length: $len\r\nTransfer-Encoding: chunked\r\n" '\r\n' "$chunked\r\n$body\r\n0\r\n\r\n")"
refused "Transfer-Encoding before Content-Length" \
    "$(eval_req "Transfer-Encoding: chunked\r\nContent-Length: $len\r\n" '\r\n' "$chunked\r\n$body\r\n0\r\n\r\n")"
refused "two different Content-Lengths" "$(eval_req "Content-Length: $len\r\nContent-Length: 2\r\n")"
refused "two equal Content-Lengths" "$(eval_req "Content-Length: $len\r\nContent-Length: $len\r\n")"
refused "a Content-Length list" "$(eval_req "Content-Length: $len, $len\r\n")"
refused "a signed Content-Length" "$(eval_req "Content-Length: +$len\r\n")"
refused "Transfer-Encoding other than chunked" \
    "$(eval_req 'Transfer-Encoding: gzip, chunked\r\n' '\r\n' "$chunked\r\n$body\r\n0\r\n\r\n")"
refused "two Transfer-Encodings" \
    "$(eval_req 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n' '\r\n' "$chunked\r\n$body\r\n0\r\n\r\n")"
refused "bare LF throughout" "$(eval_req "Content-Length: $len\n" '\n')"
# Writ reads the first Authorization; a proxy in front may have read the last
refused "two Authorization headers" "$(eval_req "Content-Length: $len\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n")"
refused "bare LF after the request line" 'GET /healthz HTTP/1.1\nHost: x\r\nConnection: close\r\n\r\n'
refused "bare LF after a header" 'GET /healthz HTTP/1.1\r\nHost: x\nConnection: close\r\n\r\n'
refused "bare LF after the last header" 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\n\r\n'
refused "bare LF as the empty line" 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\n'
refused "bare LF ending a body's headers" "$(eval_req "Content-Length: $len\r\n" '\r\n' | sed 's/close\\r\\n\\r\\n/close\\n\\n/')"
refused "obs-fold continuation line" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\nConnection: close\r\n\r\n'
refused "bare CR in a value" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
refused "space before a colon" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A : a\r\nConnection: close\r\n\r\n'
refused "HTTP/1.1 without Host" 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'
code=$(raw 'GET /he lthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
[ "$code" = 400 ] || [ "$code" = none ] && ok "space in the target refused ($code)" || bad "space in the target: $code"

m=$(curl -s -m 5 "http://$ADDR/metrics")
n=$(awk '/^writ_requests_malformed_total/ {print $2}' <<<"$m")
[ "${n:-0}" -ge 15 ] && ok "metrics: malformed requests counted ($n)" || bad "metrics: malformed requests: <$n>"
r=$(req GET /healthz); contains "healthy after it all" "$r" '200 {"status":"ok"'
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0
finish
