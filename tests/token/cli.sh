#!/usr/bin/env bash
# cli.sh WRIT_BINARY - end-to-end checks of `writ keys`, `writ token` and
# `writ revoke`: exit codes (0 ok, 1 refused, 2 usage) and that every refusal
# names the check that failed.  Uses the openssl command line for an
# X.509-SVID chain.
set -uo pipefail
writ=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fails=0 checks=0

# expect CODE PATTERN -- command...: exit code and a stderr pattern ('' = any)
expect() {
    local code=$1 pat=$2; shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne "$code" ] || { [ -n "$pat" ] && ! grep -q -- "$pat" <<<"$err"; }; then
        echo "FAIL (rc $rc, want $code, want /$pat/): $*"; echo "     $err"; fails=$((fails + 1))
    else
        echo "ok   ${pat:-rc $code}"
    fi
}

ISS=https://writ.corp.example AUD=corp.example
A=spiffe://corp.example/agents/a B=spiffe://corp.example/agents/b
SCOPE=(--purpose "triage 42" --action tool:read --action tool:write --resource 'repo:corp/*' --sensitivity internal)

"$writ" keys generate --out k1.pem >kid1 || exit 1
"$writ" keys generate --out k2.pem --alg EdDSA >kid2 || exit 1
expect 1 "cannot create" -- "$writ" keys generate --out k1.pem
expect 2 "usage" -- "$writ" keys generate --out x.pem --alg HS256
expect 2 "--alg: expected ES256 or EdDSA, got 'HS256'" -- "$writ" keys generate --out x.pem --alg HS256
expect 2 "keys generate: --out FILE is required" -- "$writ" keys generate
expect 2 "keys: --out needs a value" -- "$writ" keys generate --out
expect 2 "keys: unknown command 'gen' (generate or jwks)" -- "$writ" keys gen --out x.pem
[ -e x.pem ] && { echo "FAIL a refused keys command wrote x.pem"; fails=$((fails + 1)); }
[ "$(stat -c %a k1.pem)" = 600 ] || { echo "FAIL key file mode"; fails=$((fails + 1)); }
"$writ" keys jwks --key k2.pem --key k1.pem >jwks.json || exit 1
grep -qF -- "$(cat kid1)" jwks.json && grep -qF -- "$(cat kid2)" jwks.json && ! grep -q '"d"' jwks.json ||
    { echo "FAIL jwks content"; fails=$((fails + 1)); }

tok=$("$writ" token mint --key k1.pem --issuer $ISS --audience $AUD --subject $A "${SCOPE[@]}" --ttl 600) || exit 1
expect 0 "valid: holder $A" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD "$tok"
echo "$tok" >tok.txt
expect 0 "valid" -- "$writ" token verify --key k1.pem --issuer $ISS --audience $AUD @tok.txt
expect 0 "NOT verified" -- "$writ" token inspect "$tok"
expect 1 "refused: audience" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience other "$tok"
expect 1 "refused: issuer" -- "$writ" token verify --jwks jwks.json --issuer https://evil --audience $AUD "$tok"
expect 1 "refused: expired" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD --now 4000000000 "$tok"
expect 1 "refused: kid_unknown" -- "$writ" token verify --key k2.pem --issuer $ISS --audience $AUD "$tok"
expect 1 "refused: bad_signature" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD "${tok%?????}AAAAA"
expect 1 "refused: ttl_too_long" -- "$writ" token mint --key k1.pem --issuer $ISS --audience $AUD --subject $A "${SCOPE[@]}" --ttl 5000
expect 2 "required" -- "$writ" token mint --key k1.pem --issuer $ISS --audience $AUD "${SCOPE[@]}"
expect 2 "usage" -- "$writ" token frobnicate
expect 2 "usage" -- "$writ" token mint --ttl -5
# a bad option value says which, above the usage
expect 2 "--ttl 'x' is not a whole number" -- "$writ" token mint --ttl x
expect 2 "--ttl is at most 86400" -- "$writ" token mint --ttl 99999
expect 2 "certificate thumbprint is 43 base64url" -- "$writ" token mint --cert-thumbprint '!!!'
expect 2 "unknown option --frob" -- "$writ" token mint --frob

# delegation
del=(token delegate --key k1.pem --issuer $ISS --audience $AUD --token "$tok")
d1=$("$writ" "${del[@]}" --target $B --presenter $A --action tool:read) || exit 1
expect 0 "valid: holder $B" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD "$d1"
expect 1 "refused: scope_widened" -- "$writ" "${del[@]}" --target $B --action tool:admin
expect 1 "refused: scope_widened" -- "$writ" "${del[@]}" --target $B --sensitivity restricted
expect 1 "refused: expiry_extended" -- "$writ" "${del[@]}" --target $B --ttl 900
expect 1 "refused: actor" -- "$writ" "${del[@]}" --target $B --presenter $B
expect 1 "refused: subject" -- "$writ" "${del[@]}" --target not-an-id

# revocation, persisted in SQLite and seen by a later process
jti=$("$writ" token inspect "$tok" 2>/dev/null | sed -n 's/.*"jti": "\(.*\)".*/\1/p')
expect 0 "revoked token subtree" -- "$writ" revoke --db rev.db --subtree "$jti"
expect 1 "refused: revoked: token subtree" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD --revocations rev.db "$d1"
expect 1 "refused: revoked" -- "$writ" "${del[@]}" --target $B --revocations rev.db
expect 0 "revoked agent" -- "$writ" revoke --db rev.db --agent $A
expect 1 "spiffe_id" -- "$writ" revoke --db rev.db --agent not-an-id
expect 2 "usage" -- "$writ" revoke --db rev.db --jti a --task b

# identity exchange: X.509-SVID chain from the openssl command line
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj /CN=ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj /CN=a 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:%s\n' $A >ext.cnf
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out leaf.pem 2>/dev/null
ex=(token exchange --key k1.pem --issuer $ISS --audience $AUD "${SCOPE[@]}")
bound=$("$writ" "${ex[@]}" --x509-roots corp.example=ca.pem --x509-chain leaf.pem) || { echo "FAIL x509 exchange"; exit 1; }
thumb=$(openssl x509 -in leaf.pem -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
expect 1 "refused: cnf_cert_missing" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD "$bound"
expect 0 "valid" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD --cert-thumbprint "$thumb" "$bound"
expect 1 "refused: cnf_cert_mismatch" -- "$writ" token verify --jwks jwks.json --issuer $ISS --audience $AUD --cert-thumbprint AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "$bound"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key -out evil.pem -days 2 -subj /CN=evil \
    -addext basicConstraints=critical,CA:TRUE 2>/dev/null
expect 1 "refused: certificate: chain does not verify" -- "$writ" "${ex[@]}" --x509-roots corp.example=evil.pem --x509-chain leaf.pem
expect 1 "refused: untrusted" -- "$writ" "${ex[@]}" --x509-roots other.example=ca.pem --x509-chain leaf.pem
expect 1 "refused: malformed" -- "$writ" "${ex[@]}" --x509-roots corp.example=ca.pem --subject-token not.a.jwt
expect 2 "exactly one" -- "$writ" "${ex[@]}" --x509-roots corp.example=ca.pem

echo "$((checks - fails))/$checks CLI checks passed"
[ "$fails" -eq 0 ]
