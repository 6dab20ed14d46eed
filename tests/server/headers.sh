#!/usr/bin/env bash
# headers.sh - the limit on a request's line and headers (13312 bytes, as
# libmicrohttpd counts them: from the method to the empty line), through the
# real server from a raw socket.
#
#   - just under and at the limit: served (GET, a POST with its body, 40
#     header fields, keep-alive after it);
#   - the largest legitimate request: an 8 KiB bearer token (the most a
#     task token may be) with a 4 KiB path (the longest /authz/check
#     decides), in the nginx form and the Envoy form, plus a proxy's usual
#     headers, is decided (not refused for its size);
#   - one byte over: Writ's own 431 in its error shape, connection closed;
#   - far over, up to 1 MiB, and every size across the end of
#     libmicrohttpd's 16 KiB connection pool: a 431 or a closed connection,
#     never a hang, and the server keeps serving.
. "$(dirname "$0")/lib.sh"

LIMIT=13312
cat >"$TMP/writ.conf" <<CONF
check_principal_header = X-Writ-Agent-Id
trusted_proxies = 127.0.0.1
route = GET  /datasets/{id}          read   Dataset {id}
CONF
start_writ headers "${EXFILES[@]}" --config "$TMP/writ.conf"
host=${ADDR%:*}; port=${ADDR##*:}

# send.py MODE ...: builds a request of an exact header-block size and sends
# it on one connection; prints "STATUS CLOSE BLOCK" (STATUS "none" when the
# server closed without an answer, CLOSE yes when it said Connection: close,
# BLOCK the header block's size in bytes) and the body in $TMP/resp.body.
cat >"$TMP/send.py" <<'PY'
import re, socket, sys
host, port, body_out, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
args = sys.argv[5:]
A = 'spiffe://corp.example/agents/analyst'
def block(line, fields):
    return (line + '\r\n' + ''.join('%s: %s\r\n' % kv for kv in fields) + '\r\n').encode()
def sized(line, fields, size, pad_name='X-Pad'):
    # fields + one padding field making the block exactly size bytes
    base = len(block(line, fields + [(pad_name, '')]))
    if size < base:
        sys.exit('size %d below the minimum %d' % (size, base))
    return block(line, fields + [(pad_name, 'p' * (size - base))])
BODY = ('{"subject":{"type":"Agent","id":"%s"},"action":{"name":"read"},'
        '"resource":{"type":"Dataset","id":"usage-metrics"},"context":{"task":{"id":"t1",'
        '"purpose":"weekly-report"},"chain_depth":0,"destination":"internal",'
        '"time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"}}' % A).encode()
reqs = []
if mode == 'get':            # get SIZE [NFIELDS]: GET /healthz
    size = int(args[0]); n = int(args[1]) if len(args) > 1 else 0
    reqs.append(sized('GET /healthz HTTP/1.1', [('Host', 'x'), ('Connection', 'close')] +
                      [('X-F%02d' % i, 'v' * 8) for i in range(n)], size))
elif mode == 'post':         # post SIZE: an AuthZEN evaluation, then a GET on the same connection
    size = int(args[0])
    reqs.append(sized('POST /access/v1/evaluation HTTP/1.1', [('Host', 'x'), ('Content-Type', 'application/json'),
                      ('Content-Length', str(len(BODY)))], size) + BODY)
    reqs.append(block('GET /healthz HTTP/1.1', [('Host', 'x'), ('Connection', 'close')]))
elif mode in ('nginx', 'envoy'):   # the largest legitimate check
    path = '/datasets/' + 'd' * (4096 - len('/datasets/'))
    tok = 'eyJ' + 'h' * 97 + '.' + 'p' * 7995 + '.' + 's' * 95   # 8192 bytes, a JWS's shape
    fields = [('Host', '127.0.0.1:8180'), ('Authorization', 'Bearer ' + tok), ('X-Writ-Agent-Id', A),
              ('X-Real-IP', '203.0.113.7'), ('X-Forwarded-For', '203.0.113.7'), ('X-Writ-Destination', 'internal'),
              ('User-Agent', 'agent-sdk/1.4 (python 3.11; linux x86_64)'), ('Accept', 'application/json'),
              ('Connection', 'close')]
    if mode == 'nginx':
        line = 'GET /authz/check HTTP/1.1'
        fields = [('X-Original-URI', path), ('X-Original-Method', 'GET')] + fields
    else:
        line = 'GET /authz/check' + path + ' HTTP/1.1'
    reqs.append(block(line, fields))
elif mode == 'ctl':          # ctl LEN POS BYTE: a LEN-byte value with BYTE (hex) at POS, on /healthz
    n, pos, ch = int(args[0]), int(args[1]), chr(int(args[2], 16))
    v = ''.join(chr(0x21 + (i * 7) % 94) for i in range(n))   # every printable, shifted
    v = v[:pos] + ch + v[pos + 1:]
    reqs.append(block('GET /healthz HTTP/1.1', [('Host', 'x'), ('X-Ctl', v), ('Connection', 'close')]))
elif mode == 'big':          # big SIZE: one header of about SIZE bytes
    reqs.append(block('GET /healthz HTTP/1.1', [('Host', 'x'), ('Connection', 'close'), ('X-Big', 'b' * int(args[0]))]))
raw = b''.join(reqs)
s = socket.create_connection((host, port), timeout=10)
out = b''
try:
    s.sendall(raw)
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    pass                     # a reset after a refusal: what was read counts
s.close()
answers = re.findall(rb'HTTP/1\.1 (\d{3})', out)
head, _, rest = out.partition(b'\r\n\r\n')
m = re.search(rb'Content-Length: (\d+)', head)
open(body_out, 'wb').write(rest[:int(m.group(1))] if m else rest)
blk = raw.index(b'\r\n\r\n') + 4
print('%s %s %d %s' % (answers[0].decode() if answers else 'none',
                       'yes' if re.search(rb'(?im)^Connection: close', head) else 'no', blk,
                       ','.join(a.decode() for a in answers) or '-'))
PY
send() { timeout 15 python3 "$TMP/send.py" "$host" "$port" "$TMP/resp.body" "$@" || echo "hang-or-error rc=$?"; }

# ---- at and under the limit: served
r=$(send get $LIMIT); set -- $r
check "GET, header block at the limit ($3 bytes): 200" "$1" 200
contains "... answered by /healthz" "$(cat "$TMP/resp.body")" '"status":"ok"'
r=$(send get $((LIMIT - 1))); set -- $r
check "GET, one byte under the limit: 200" "$1" 200
r=$(send get $LIMIT 40); set -- $r
check "GET, 40 header fields, block at the limit: 200" "$1" 200
r=$(send post $LIMIT); set -- $r
check "POST with its body, block at the limit: both answers on the keep-alive connection" "$1 $4" "200 200,200"
contains "... the evaluation decided" "$(cat "$TMP/resp.body")" '"decision":'

# ---- a control character anywhere in a value, short or 8 KiB long (values
# are read 8 bytes at a time while none is there): 400; a tab: served
worst=
for spec in "1 0" "7 6" "8 7" "9 8" "16 15" "17 3" "40 0" "40 13" "40 39" "8192 0" "8192 4100" "8192 8191" "8190 8189"; do
    set -- $spec
    for b in 0d 01 1f 7f; do
        r=$(send ctl "$1" "$2" $b); set -- $r $spec
        [ "$1" = 400 ] || worst="$worst len=$5,pos=$6,byte=$b:$1"
        set -- $spec
    done
    r=$(send ctl "$1" "$2" 09); set -- $r $spec
    [ "$1" = 200 ] || worst="$worst len=$5,pos=$6,tab:$1"
done
check "control characters (CR, 0x01, 0x1f, DEL) at each place in short and 8 KiB values: 400; tabs: 200" \
    "${worst:-none}" none
r=$(send ctl 8192 5000 7f); contains "... saying why" "$(cat "$TMP/resp.body")" 'a control character in a header value'

# ---- the largest legitimate request: 8 KiB token + 4 KiB path, both forms
for form in nginx envoy; do
    r=$(send $form); set -- $r
    [ "$3" -le $LIMIT ] && ok "$form: the largest legitimate request ($3 bytes) is within the limit" \
        || bad "$form: the largest legitimate request is $3 bytes, over $LIMIT"
    # (a made-up token: refused as a task token, after Writ read all of it)
    check "$form: answered by Writ (401, the token judged)" "$1" 401
    contains "$form: ... the token judged" "$(cat "$TMP/resp.body")" '"decision":false,"context":{"reasons":[],"errors":[{"policy":null,"message":"task token refused'
done

# ---- one byte over: Writ's 431
r=$(send get $((LIMIT + 1))); set -- $r
check "GET, one byte over the limit: 431" "$1" 431
check "... connection closed" "$2" yes
contains "... in Writ's error shape" "$(cat "$TMP/resp.body")" \
    '{"error":{"status":431,"code":"headers_too_large","message":"request line and headers larger than 13312 bytes"}}'
r=$(send post $((LIMIT + 1))); set -- $r
check "POST, one byte over the limit: 431, nothing after it on the connection" "$1 $4" "431 431"
r=$(send get $((LIMIT + 1)) 40); set -- $r
check "GET, 40 fields, one byte over: 431" "$1" 431

# ---- far over, and every size across the end of the connection pool:
# a 431 or a closed connection, never a hang, never a crash
for n in 14000 20000 65536 1048576; do
    r=$(send big $n); set -- $r
    case $1 in 431|none) ok "one $n-byte header: $1";; *) bad "one $n-byte header: $r";; esac
done
worst=
for n in $(seq 15800 32 16500); do
    r=$(send big $n); set -- $r
    case $1 in 431|none) ;; *) worst="$worst $n:$1" ;; esac
done
check "headers across the end of the 16 KiB pool: each a 431 or closed" "${worst:-none}" none
r=$(req GET /healthz); check "the server still serves" "${r%% *}" 200
kill -0 "$WPID" 2>/dev/null && ok "the server is running" || bad "the server died"

finish
