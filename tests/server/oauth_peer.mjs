// oauth_peer.mjs - jose (Node) on the other side of /oauth2/token, for
// tests/server/oauth.sh.
//
//   node oauth_peer.mjs PEERS keys DIR              ES256 SPIFFE bundle DIR/bundle.json, key DIR/svid.jwk
//   node oauth_peer.mjs PEERS svid DIR SUB [AUD] [EXP] a JWT-SVID for SUB (aud default "writ", or a JSON
//                                                     array of audiences; EXP default "5m")
//   node oauth_peer.mjs PEERS oidc DIR ISS SUB [CLAIMS]
//                                                    an OIDC token of issuer ISS for SUB (aud "writ"), signed
//                                                    with the same key under kid oidc-1 (DIR/oidc.json);
//                                                    CLAIMS: a JSON object of more claims (email, ...)
//   node oauth_peer.mjs PEERS twin TOKEN             the other valid ES256 signature (r, n - s) of TOKEN
//   node oauth_peer.mjs PEERS verify JWKS TOKEN ISS AUD
//                                                    verify a Writ token with the JWKS file; print the claims
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Writ accepts ECDSA signatures in the low-S form only (s <= n/2); jose
// (OpenSSL) does not normalise S, so the peer does, as an issuer must.
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
function lowS(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  const sv = BigInt('0x' + sig.subarray(32).toString('hex'));
  if (sv <= P256_N / 2n) return token;
  const low = Buffer.from((P256_N - sv).toString(16).padStart(64, '0'), 'hex');
  return `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), low]).toString('base64url')}`;
}

const [peers, cmd, ...args] = process.argv.slice(2);
const jose = createRequire(join(peers, 'package.json'))('jose');

if (cmd === 'keys') {
  const [dir] = args;
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ keys: [{ ...pub, kid: 'svid-1', use: 'jwt-svid' }] }));
  writeFileSync(join(dir, 'svid.jwk'), JSON.stringify(await jose.exportJWK(privateKey)));
  writeFileSync(join(dir, 'oidc.json'), JSON.stringify({ keys: [{ ...pub, kid: 'oidc-1', use: 'sig' }] }));
} else if (cmd === 'svid') {
  const [dir, sub, aud = 'writ', exp = '5m'] = args;
  const key = await jose.importJWK(JSON.parse(readFileSync(join(dir, 'svid.jwk'), 'utf8')), 'ES256');
  // AUD: one audience, or a JSON array of them
  const t = await new jose.SignJWT({ sub, aud: aud.startsWith('[') ? JSON.parse(aud) : [aud] })
    .setProtectedHeader({ alg: 'ES256', kid: 'svid-1', typ: 'JWT' }).setIssuedAt().setExpirationTime(exp)
    .sign(key);
  process.stdout.write(lowS(t) + '\n');
} else if (cmd === 'oidc') {
  const [dir, iss, sub, claims] = args;
  const key = await jose.importJWK(JSON.parse(readFileSync(join(dir, 'svid.jwk'), 'utf8')), 'ES256');
  const t = await new jose.SignJWT({ ...(claims ? JSON.parse(claims) : {}), sub, aud: 'writ' })
    .setProtectedHeader({ alg: 'ES256', kid: 'oidc-1' }).setIssuer(iss).setIssuedAt().setExpirationTime('5m')
    .sign(key);
  process.stdout.write(lowS(t) + '\n');
} else if (cmd === 'twin') {
  const [h, p, s] = args[0].split('.');
  const sig = Buffer.from(s, 'base64url');
  const sv = BigInt('0x' + sig.subarray(32).toString('hex'));
  const flipped = Buffer.from((P256_N - sv).toString(16).padStart(64, '0'), 'hex');
  process.stdout.write(`${h}.${p}.${Buffer.concat([sig.subarray(0, 32), flipped]).toString('base64url')}\n`);
} else if (cmd === 'verify') {
  const [jwksFile, token, issuer, audience] = args;
  const JWKS = jose.createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
  try {
    const { payload } = await jose.jwtVerify(token, JWKS, { issuer, audience, typ: 'txntoken+jwt' });
    process.stdout.write(JSON.stringify(payload) + '\n');
  } catch (e) {
    process.stdout.write(`refused ${e.code}\n`);
    process.exit(1);
  }
} else {
  console.error('usage: oauth_peer.mjs PEERS keys|svid|oidc|verify ...');
  process.exit(2);
}
