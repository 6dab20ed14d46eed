// oauth_peer.mjs - jose (Node) on the other side of /oauth2/token, for
// tests/server/oauth.sh.
//
//   node oauth_peer.mjs PEERS keys DIR              ES256 SPIFFE bundle DIR/bundle.json, key DIR/svid.jwk
//   node oauth_peer.mjs PEERS svid DIR SUB [AUD] [EXP] a JWT-SVID for SUB (aud default "writ", EXP default "5m")
//   node oauth_peer.mjs PEERS verify JWKS TOKEN ISS AUD
//                                                    verify a Writ token with the JWKS file; print the claims
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [peers, cmd, ...args] = process.argv.slice(2);
const jose = createRequire(join(peers, 'package.json'))('jose');

if (cmd === 'keys') {
  const [dir] = args;
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ keys: [{ ...pub, kid: 'svid-1', use: 'jwt-svid' }] }));
  writeFileSync(join(dir, 'svid.jwk'), JSON.stringify(await jose.exportJWK(privateKey)));
} else if (cmd === 'svid') {
  const [dir, sub, aud = 'writ', exp = '5m'] = args;
  const key = await jose.importJWK(JSON.parse(readFileSync(join(dir, 'svid.jwk'), 'utf8')), 'ES256');
  const t = await new jose.SignJWT({ sub, aud: [aud] })
    .setProtectedHeader({ alg: 'ES256', kid: 'svid-1', typ: 'JWT' }).setIssuedAt().setExpirationTime(exp)
    .sign(key);
  process.stdout.write(t + '\n');
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
  console.error('usage: oauth_peer.mjs PEERS keys|svid|verify ...');
  process.exit(2);
}
