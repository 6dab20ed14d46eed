#!/usr/bin/env bash
# tls.sh - `writ serve` over HTTPS with client certificates (mTLS): the
# handshake only requests a certificate, so Writ verifies it as an
# X.509-SVID on each request that uses it.  Checked: HTTPS works (TLS 1.3
# and 1.2); /oauth2/token without a certificate or with a foreign one is a
# 401; a valid SVID is exchanged for a task token bound to it (cnf
# x5t#S256); /authz/check accepts the bound token with that certificate
# only (cnf_cert_missing, cnf_cert_mismatch); revocation of a bound token;
# clear start-up errors; with jose (tests/peers), a JWT-SVID next to the
# certificate and delegation of bound tokens.  Certificates come from the
# openssl command line.  Needs openssl and curl; exit 77 = skipped.
. "$(dirname "$0")/lib.sh"
for t in openssl curl; do
    command -v "$t" >/dev/null || { echo "tls: SKIPPED, $t missing"; exit 77; }
done
A=spiffe://corp.example/agents
XT=urn:ietf:params:oauth:grant-type:token-exchange
FORM='Content-Type: application/x-www-form-urlencoded'
WRIT=$(cd "$(dirname "$WRIT")" && pwd)/$(basename "$WRIT")
cd "$TMP" || exit 1

# ---- certificates
ca() {   # ca NAME CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" -days 2 \
        -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
}
leaf() {   # leaf NAME CA EXTENSIONS...
    local name=$1 issuer=$2; shift 2
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=$name" 2>/dev/null
    printf '%s\n' "$@" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial -days 1 \
        -extfile "$name.ext" -out "$name.pem" 2>/dev/null
}
svid() {   # svid NAME CA SPIFFE-ID
    leaf "$1" "$2" basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=clientAuth "subjectAltName=URI:$3"
}
ca ca "corp.example CA"
ca evil "evil CA"
leaf server ca basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth \
    subjectAltName=IP:127.0.0.1
svid x ca "$A/x"
svid y ca "$A/y"
svid forged evil "$A/x"     # the same SPIFFE ID from a CA Writ does not trust
leaf inter ca basicConstraints=critical,CA:TRUE keyUsage=critical,keyCertSign,cRLSign
svid w inter "$A/w"         # issued by an intermediate CA: the client sends leaf + intermediate
cat w.pem inter.pem >w-chain.pem
for f in ca.pem server.pem x.pem y.pem forged.pem inter.pem w.pem; do
    [ -s "$f" ] || { bad "openssl made $f"; finish; }
done
thumb() { openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '='; }

cat >pol.cedar <<'CEDAR'
permit (principal, action == Writ::Action::"start_task", resource);
permit (principal, action == Writ::Action::"read", resource);
CEDAR
head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >admin.secret
cat >writ.conf <<CONF
policies = pol.cedar
entities =
schema =
tls_cert = server.pem
tls_key = server.key
tls_client_ca = corp.example ca.pem
admin_token_file = admin.secret
route = GET /datasets/{id} read Dataset {id}
CONF
start_writ tls --config "$TMP/writ.conf"
contains "log says HTTPS" "$(cat tls.log)" "serving HTTPS (client certificates requested) on 127.0.0.1:"

# sreq METHOD PATH [curl args...]: over HTTPS, trusting our CA; "STATUS BODY"
sreq() {
    local m=$1 p=$2; shift 2
    curl -s -m 5 --cacert "$TMP/ca.pem" -o "$TMP/body" -w '%{http_code}' -X "$m" "$@" "https://$ADDR$p" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}
as() { echo --cert "$TMP/$1.pem" --key "$TMP/$1.key"; }
# token [curl args...]: start a task over mTLS (no subject_token)
token() {
    sreq POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode scope=read \
        --data-urlencode purpose=report --data-urlencode 'resource=usage-*' --data-urlencode sensitivity=restricted "$@"
}
body() { echo "${1#* }"; }

# ---- HTTPS
r=$(sreq GET /healthz)
contains "HTTPS works" "$r" '200 {"status":"ok"'
r=$(sreq GET /healthz --tlsv1.2 --tls-max 1.2)
check "TLS 1.2 works" "${r%% *}" 200
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$ADDR/healthz")
check "plain HTTP on the HTTPS port gets no answer" "$code" 000
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "https://$ADDR/healthz")
check "the server certificate is not trusted without our CA" "$code" 000

# ---- /oauth2/token over mTLS
r=$(token)
check "no client certificate: 401" "${r%% *}" 401
check "no client certificate: OAuth error" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_client certificate"
contains "no client certificate: says so" "$r" "no client certificate"
r=$(token $(as forged))
check "foreign certificate: 401" "${r%% *}" 401
check "foreign certificate: OAuth error" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_client certificate"
contains "foreign certificate: chain refused" "$r" "chain does not verify"
r=$(token --cert "$TMP/server.pem" --key "$TMP/server.key")
check "a certificate that is no SVID: 401" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_client certificate_san"
r=$(token $(as x))
check "valid SVID: token issued" "${r%% *}" 200
tok=$(body "$r" | jq -r .access_token)
claims=$("$WRIT" token inspect "$tok" 2>/dev/null | jq -c '[.payload.sub, .payload.cnf["x5t#S256"]]')
check "token for the SVID's agent, bound to its certificate" "$claims" "[\"$A/x\",\"$(thumb x.pem)\"]"
r=$(token --cert "$TMP/w-chain.pem" --key "$TMP/w.key")
check "SVID with its intermediate CA: token issued" "${r%% *}" 200
r=$(token $(as w))
check "SVID without its intermediate CA: refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_client certificate"
r=$(token $(as x) --tlsv1.2 --tls-max 1.2)
check "valid SVID over TLS 1.2: token issued" "${r%% *}" 200
r=$(token $(as x) --data-urlencode subject_token=x.y.z \
    --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt)
check "a bad subject token next to the certificate is refused" "$(body "$r" | jq -r .error)" invalid_grant
r=$(sreq POST /oauth2/token $(as x) -H "$FORM" --data-urlencode "grant_type=$XT" \
    --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt --data-urlencode scope=read)
check "subject_token_type without subject_token: 400" "${r%% *}" 400

# ---- /authz/check with the bound token
chk() { sreq GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok" "$@"; }
r=$(chk $(as x))
contains "bound token with its certificate: allowed" "$r" '200 {"decision":true'
r=$(chk $(as x) --tlsv1.2 --tls-max 1.2)
check "bound token with its certificate over TLS 1.2: allowed" "${r%% *}" 200
r=$(chk)
check "bound token without a certificate: 401" "${r%% *}" 401
contains "bound token without a certificate: cnf_missing" "$r" "task token refused: cnf_cert_missing"
r=$(chk $(as y))
check "bound token with another valid SVID: 401" "${r%% *}" 401
contains "bound token with another valid SVID: cnf_mismatch" "$r" "task token refused: cnf_cert_mismatch"
r=$(chk $(as forged))
check "bound token with a foreign certificate: 401" "${r%% *}" 401
contains "bound token with a foreign certificate: named" "$r" "client certificate: chain does not verify"
r=$(sreq GET /authz/check/datasets/sales $(as x) -H "Authorization: Bearer $tok")
check "the scope still bounds a bound token" "${r%% *}" 403
unbound=$("$WRIT" token mint --key "$TMP/tls.state/token-key.pem" \
    --issuer https://writ.local --audience writ --subject "$A/z" --purpose p --action read --resource '*' \
    --sensitivity restricted)
r=$(sreq GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $unbound")
check "an unbound token needs no certificate" "${r%% *}" 200
# AuthZEN with the bound token: the same binding
AZ='{"action":{"name":"read"},"resource":{"type":"Dataset","id":"usage-metrics"}}'
az() { sreq POST /access/v1/evaluation -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
    --data-binary "$AZ" "$@"; }
r=$(az $(as x))
contains "AuthZEN: bound token with its certificate: allowed" "$r" '200 {"decision":true'
r=$(az $(as y))
check "AuthZEN: bound token with another valid SVID: 401" "${r%% *} $(body "$r" | jq -r .error.code)" "401 invalid_token"
contains "AuthZEN: bound token with another valid SVID: cnf_mismatch" "$r" "task token refused: cnf_cert_mismatch"
r=$(az)
contains "AuthZEN: bound token without a certificate: cnf_missing" "$r" "task token refused: cnf_cert_missing"

# ---- revocation of a bound token
r=$(sreq POST /oauth2/revoke -H "$FORM" -H "Authorization: Bearer $tok" --data-urlencode "token=$tok")
check "revoking with a bound token needs its certificate" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_client cnf_cert_missing"
r=$(sreq POST /oauth2/revoke $(as x) -H "$FORM" -H "Authorization: Bearer $tok" --data-urlencode "token=$tok")
contains "the holder revokes its bound token over mTLS" "$(body "$r" | jq -r .revoked)" subtree
r=$(chk $(as x))
contains "revoked bound token refused" "$r" "revoked"
r=$(token $(as y))
tok_y=$(body "$r" | jq -r .access_token)
r=$(sreq POST /oauth2/revoke -H "$FORM" -H "Authorization: Bearer $(cat admin.secret)" --data-urlencode "token=$tok_y")
contains "the admin revokes a bound token without its certificate" "$(body "$r" | jq -r .revoked)" subtree
r=$(sreq GET /authz/check/datasets/usage-metrics $(as y) -H "Authorization: Bearer $tok_y")
contains "... and it is refused" "$r" "revoked"
m=$(curl -s -m 5 --cacert ca.pem "https://$ADDR/metrics")
check "metrics: client certificates refused (forged x2, no SVID x1, no intermediate x1)" \
    "$(awk '/^writ_client_certs_refused_total/ {print $2}' <<<"$m")" 4
check "metrics: client certificates verified" "$(awk '/^writ_client_certs_verified_total/ {print ($2 > 0)}' <<<"$m")" 1
stop_writ "$WPID" TERM
check "clean shutdown" "$STOP_RC" 0

# ---- start-up errors are clear and fatal
startup() {   # startup EXPECTED ARGS...: the server must refuse to start, saying EXPECTED
    local want=$1; shift
    out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --policies "$TMP/pol.cedar" "$@" 2>&1)
    local rc=$?
    if { [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; } && [[ "$out" == *"$want"* ]] && [[ "$out" != *Sanitizer* ]]; then ok "refused: $want"
    else bad "start-up refusal '$want': rc $rc, <$out>"; fi
}
startup "HTTPS needs both tls_cert and tls_key" --tls-cert server.pem
startup "tls_client_ca needs HTTPS" --tls-client-ca "corp.example ca.pem"
startup "does not belong to the certificate" --tls-cert server.pem --tls-key x.key
startup "tls_cert: cannot open $TMP/nonexistent.pem" --tls-cert "$TMP/nonexistent.pem" --tls-key server.key
startup "is not a CA" --tls-cert server.pem --tls-key server.key --tls-client-ca "corp.example x.pem"
startup "trust domain" --tls-cert server.pem --tls-key server.key --tls-client-ca "Not_A_Domain! ca.pem"
startup "tls_client_ca: expected TRUST_DOMAIN FILE" --tls-cert server.pem --tls-key server.key --tls-client-ca "ca.pem"

# ---- HTTPS without client certificates: bound tokens are refused
start_writ tls2 --policies "$TMP/pol.cedar" --entities '' --schema '' --tls-cert "$TMP/server.pem" \
    --tls-key "$TMP/server.key" --route 'GET /datasets/{id} read Dataset {id}'
r=$(sreq GET /healthz $(as x))
check "HTTPS without tls_client_ca (a client certificate is ignored)" "${r%% *}" 200
r=$(sreq POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode scope=read)
contains "no client certificates configured: subject_token required" "$r" "subject_token and subject_token_type are required\""
stop_writ "$WPID" TERM

# ---- with JWT-SVIDs too (jose; skipped without node and tests/peers/node_modules)
PEERS=${WRIT_PEERS:-$REPO/tests/peers}
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ]; then
    echo "skip JWT-SVID + certificate checks: node or $PEERS/node_modules/jose missing (npm ci in tests/peers)"
    finish
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
JWT=urn:ietf:params:oauth:token-type:jwt
AT=urn:ietf:params:oauth:token-type:access_token
peer keys "$TMP" || { bad "jose keys"; finish; }
cat >>pol.cedar <<'CEDAR'
permit (principal, action == Writ::Action::"delegate", resource);
CEDAR
start_writ tls3 --config "$TMP/writ.conf" --identity-spiffe "corp.example $TMP/bundle.json"
svid_x=$(peer svid "$TMP" "$A/x")
svid_y=$(peer svid "$TMP" "$A/y")
actor_y=$(peer svid "$TMP" "$A/y" writ-actor) # y's token for acting on a delegation
exchange() { token --data-urlencode "subject_token_type=$JWT" "$@"; }
cnf() { "$WRIT" token inspect "$1" 2>/dev/null | jq -r '.payload.cnf["x5t#S256"] // "none"'; }
r=$(exchange --data-urlencode "subject_token=$svid_x" $(as x))
check "JWT-SVID and certificate of the same agent: 200" "${r%% *}" 200
btok=$(body "$r" | jq -r .access_token)
check "... the token is bound to the certificate" "$(cnf "$btok")" "$(thumb x.pem)"
r=$(exchange --data-urlencode "subject_token=$svid_y" $(as x))
check "JWT-SVID of another agent than the certificate: refused" \
    "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_grant subject"
r=$(exchange --data-urlencode "subject_token=$svid_x")
check "JWT-SVID without a certificate: 200" "${r%% *}" 200
utok=$(body "$r" | jq -r .access_token)
check "... and not bound" "$(cnf "$utok")" none
# delegation: the certificate makes the caller the presenter
delegate() {   # delegate PARENT [curl args...]
    local p=$1; shift
    sreq POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$p" \
        --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token=$actor_y" \
        --data-urlencode "actor_token_type=$JWT" "$@"
}
r=$(delegate "$btok" $(as x))
check "delegating a bound token with its certificate: 200" "${r%% *}" 200
dtok=$(body "$r" | jq -r .access_token)
check "... the delegated token goes to y" "$("$WRIT" token inspect "$dtok" 2>/dev/null | jq -r .payload.act.sub)" "$A/y"
r=$(delegate "$btok")
check "delegating a bound token without a certificate" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant cnf_cert_missing"
r=$(delegate "$btok" $(as y))
check "delegating a bound token with another certificate" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant cnf_cert_mismatch"
r=$(delegate "$utok" $(as y))
check "delegating x's token with y's certificate" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant actor"
r=$(delegate "$utok" $(as forged))
check "delegating with a foreign certificate: 401" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_client certificate"
# delegation to an agent named by its X.509-SVID: the new token is bound to it
X509T=urn:writ:params:oauth:token-type:x509-svid
xdelegate() {   # xdelegate PARENT ACTOR-PEM-FILE [curl args...]
    local p=$1 pem=$2; shift 2
    sreq POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$p" \
        --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token@$pem" \
        --data-urlencode "actor_token_type=$X509T" "$@"
}
r=$(xdelegate "$btok" "$TMP/y.pem" $(as x))
check "delegating to y named by its certificate: 200" "${r%% *}" 200
xtok=$(body "$r" | jq -r .access_token)
check "... the delegated token is y's, bound to y's certificate" \
    "$("$WRIT" token inspect "$xtok" 2>/dev/null | jq -r '[.payload.act.sub, .payload.cnf["x5t#S256"]] | join(" ")')" \
    "$A/y $(thumb y.pem)"
tok=$xtok
r=$(chk $(as y))
contains "y uses it with its certificate: allowed" "$r" '200 {"decision":true'
r=$(chk $(as x))
contains "x (the delegator) cannot use it" "$r" "task token refused: cnf_cert_mismatch"
r=$(chk)
contains "nor anyone without y's certificate" "$r" "task token refused: cnf_cert_missing"
r=$(xdelegate "$btok" "$TMP/w-chain.pem" $(as x))
check "an actor chain through an intermediate CA: bound to the leaf" \
    "${r%% *} $(cnf "$(body "$r" | jq -r .access_token)")" "200 $(thumb w.pem)"
r=$(xdelegate "$btok" "$TMP/forged.pem" $(as x))
check "an actor certificate from a foreign CA: refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant certificate"
printf 'not a certificate' >"$TMP/junk.pem"
r=$(xdelegate "$btok" "$TMP/junk.pem" $(as x))
check "an actor token that is not PEM: 400 invalid_grant" "${r%% *} $(body "$r" | jq -r .error)" "400 invalid_grant"
stop_writ "$WPID" TERM
check "clean shutdown (sanitizers see no leak)" "$STOP_RC" 0
finish
