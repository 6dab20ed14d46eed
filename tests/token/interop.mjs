// interop.mjs - Writ task tokens and identity tokens against `jose` (Node).
//
//   node interop.mjs WRIT_BINARY PEERS_DIR TMPDIR
//
// Direction 1: tokens Writ mints and delegates verify with jose using only
// Writ's published JWKS.  Direction 2: JWT-SVIDs and OIDC tokens that jose
// signs (ES256, ES384, RS256, PS256, EdDSA) are accepted by `writ token
// exchange`, and jose-made hostile tokens are refused with the right reason.
import { createRequire } from 'node:module';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [writ, peers, tmp] = process.argv.slice(2);
const require = createRequire(join(peers, 'package.json'));
const jose = require('jose');

let failures = 0, checks = 0;
function ok(cond, what) {
  checks++;
  if (cond) console.log(`ok   ${what}`);
  else { failures++; console.log(`FAIL ${what}`); }
}
function run(args) {
  const r = spawnSync(writ, args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

// ECDSA low-S: Writ accepts only s <= n/2 (the twin (r, n - s) of a valid
// signature is refused as malleable) and signs that way.  jose (OpenSSL)
// does not normalise S, so tokens it signs are put in the low-S form here,
// as an issuer talking to Writ must, and the high-S twin is checked refused.
const ORDER = {
  64: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  96: BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'),
};
function sParts(token) {
  const [h, p, s] = token.split('.');
  const alg = JSON.parse(Buffer.from(h, 'base64url')).alg;
  const sig = Buffer.from(s, 'base64url');
  const n = (alg === 'ES256' || alg === 'ES384') ? ORDER[sig.length] : undefined;
  return { h, p, sig, n, half: sig.length / 2 };
}
function withS(token, pick) {
  const { h, p, sig, n, half } = sParts(token);
  if (!n) return token;
  const sv = BigInt('0x' + sig.subarray(half).toString('hex'));
  const nv = pick(sv, n);
  const out = Buffer.concat([sig.subarray(0, half), Buffer.from(nv.toString(16).padStart(half * 2, '0'), 'hex')]);
  return `${h}.${p}.${out.toString('base64url')}`;
}
const lowS = (t) => withS(t, (s, n) => (s > n / 2n ? n - s : s));
const highS = (t) => withS(t, (s, n) => (s > n / 2n ? s : n - s));
const isLowS = (t) => lowS(t) === t;

const ISS = 'https://writ.corp.example', AUD = 'corp.example';
const scope = ['--purpose', 'triage ticket 42', '--action', 'tool:read', '--action', 'tool:write',
               '--resource', 'repo:corp/*', '--sensitivity', 'internal', '--destination', 'api.github.com'];

// ---------------------------------------------------------------- Writ -> jose
for (const alg of ['ES256', 'EdDSA']) {
  const key = join(tmp, `writ-${alg}.pem`), old = join(tmp, `writ-old-${alg}.pem`);
  execFileSync(writ, ['keys', 'generate', '--out', old, '--alg', alg]);
  execFileSync(writ, ['keys', 'generate', '--out', key, '--alg', alg]);
  const jwks = JSON.parse(execFileSync(writ, ['keys', 'jwks', '--key', key, '--key', old], { encoding: 'utf8' }));
  const JWKS = jose.createLocalJWKSet(jwks);
  const opts = { issuer: ISS, audience: AUD, typ: 'txntoken+jwt', algorithms: [alg] };

  const m = run(['token', 'mint', '--key', key, '--issuer', ISS, '--audience', AUD,
                 '--subject', 'spiffe://corp.example/agents/a', '--txn', 'task-42', ...scope]);
  ok(m.code === 0, `${alg}: writ token mint (${m.err})`);
  if (alg === 'ES256') ok(isLowS(m.out), 'ES256: Writ signs low-S');
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(m.out, JWKS, opts);
    ok(payload.sub === 'spiffe://corp.example/agents/a' && payload.txn === 'task-42' &&
       payload.scope === 'tool:read tool:write' && payload.tctx.sensitivity === 'internal' &&
       payload.exp - payload.iat === 300 && protectedHeader.kid === jwks.keys[0].kid,
       `${alg}: jose verifies a Writ task token with Writ's JWKS only`);
  } catch (e) { ok(false, `${alg}: jose verifies a Writ task token: ${e.code} ${e.message}`); }

  const d = run(['token', 'delegate', '--key', key, '--issuer', ISS, '--audience', AUD, '--token', m.out,
                 '--target', 'spiffe://corp.example/agents/b', '--presenter', 'spiffe://corp.example/agents/a',
                 '--action', 'tool:read']);
  ok(d.code === 0, `${alg}: writ token delegate (${d.err})`);
  try {
    const { payload } = await jose.jwtVerify(d.out, JWKS, opts);
    ok(payload.act?.sub === 'spiffe://corp.example/agents/b' && payload.act?.sub_profile === 'ai_agent' &&
       payload.depth === 1 && payload.scope === 'tool:read', `${alg}: jose verifies a delegated token (act chain)`);
  } catch (e) { ok(false, `${alg}: jose verifies a delegated token: ${e.code} ${e.message}`); }

  // a token from the retired (second) key still verifies through the JWKS
  const o = run(['token', 'mint', '--key', old, '--issuer', ISS, '--audience', AUD,
                 '--subject', 'spiffe://corp.example/agents/a', ...scope]);
  try { await jose.jwtVerify(o.out, JWKS, opts); ok(true, `${alg}: jose verifies a token from the previous key`); }
  catch (e) { ok(false, `${alg}: previous key: ${e.code}`); }

  // sanity: jose refuses a tampered Writ token too
  const [h, p, s] = m.out.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  claims.scope = 'tool:read tool:write tool:admin';
  const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
  try { await jose.jwtVerify(forged, JWKS, opts); ok(false, `${alg}: jose refuses a tampered Writ token`); }
  catch (e) { ok(e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', `${alg}: jose refuses a tampered Writ token`); }
}

// ---------------------------------------------------------------- jose -> Writ
const writKey = join(tmp, 'writ-ES256.pem');
const bundle = { keys: [] }, oidcJwks = { keys: [] };
const signers = {};
for (const alg of ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  bundle.keys.push({ ...jwk, kid: `svid-${alg}`, use: 'jwt-svid' });
  oidcJwks.keys.push({ ...jwk, kid: `oidc-${alg}`, alg });
  signers[alg] = { privateKey, jwk };
}
const bundleFile = join(tmp, 'bundle.json'), oidcFile = join(tmp, 'oidc.json');
writeFileSync(bundleFile, JSON.stringify(bundle));
writeFileSync(oidcFile, JSON.stringify(oidcJwks));
const OIDC_ISS = 'https://token.actions.example';

function exchange(token) {
  return run(['token', 'exchange', '--key', writKey, '--issuer', ISS, '--audience', AUD,
              '--bundle', `corp.example=${bundleFile}`, '--oidc', `${OIDC_ISS}=${oidcFile}`,
              '--identity-audience', 'writ', '--subject-token', token, ...scope]);
}
const writJwks = jose.createLocalJWKSet(JSON.parse(execFileSync(writ, ['keys', 'jwks', '--key', writKey], { encoding: 'utf8' })));

for (const alg of Object.keys(signers)) {
  const svid = await new jose.SignJWT({ sub: 'spiffe://corp.example/agents/triage-bot', aud: ['writ'] })
    .setProtectedHeader({ alg, kid: `svid-${alg}`, typ: 'JWT' }).setIssuedAt().setExpirationTime('5m')
    .sign(signers[alg].privateKey).then(lowS);
  const r = exchange(svid);
  ok(r.code === 0, `${alg}: Writ accepts a jose-signed JWT-SVID (${r.err})`);
  if (r.code === 0) {
    const { payload } = await jose.jwtVerify(r.out, writJwks, { issuer: ISS, audience: AUD });
    ok(payload.sub === 'spiffe://corp.example/agents/triage-bot', `${alg}: exchanged task token names the SVID's SPIFFE ID`);
  }
  const oidc = await new jose.SignJWT({ sub: 'repo:corp/agents:ref:refs/heads/main', aud: 'writ' })
    .setProtectedHeader({ alg, kid: `oidc-${alg}` }).setIssuer(OIDC_ISS).setIssuedAt().setExpirationTime('10m')
    .sign(signers[alg].privateKey).then(lowS);
  const o = exchange(oidc);
  ok(o.code === 0, `${alg}: Writ accepts a jose-signed OIDC token (${o.err})`);
}

// hostile tokens made with jose
async function refused(name, token, reason, raw = false) {
  const r = exchange(raw ? token : lowS(token));
  ok(r.code === 1 && r.err.includes(`refused: ${reason}:`), `refuses ${name} -> ${reason} (${r.err})`);
}
const es = signers.ES256.privateKey;
const sub = 'spiffe://corp.example/agents/triage-bot';
await refused('alg none', new jose.UnsecuredJWT({ sub, aud: 'writ' }).setIssuedAt().setExpirationTime('5m').encode(), 'alg_not_allowed');
const pubAsSecret = new TextEncoder().encode(JSON.stringify(signers.ES256.jwk));
await refused('HS256 keyed with the public JWK',
  await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'HS256', kid: 'svid-ES256' })
    .setIssuedAt().setExpirationTime('5m').sign(pubAsSecret), 'alg_not_allowed');
await refused('expired SVID',
  await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'ES256', kid: 'svid-ES256' })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 1800).sign(es), 'expired');
await refused('wrong audience',
  await new jose.SignJWT({ sub, aud: 'someone-else' }).setProtectedHeader({ alg: 'ES256', kid: 'svid-ES256' })
    .setIssuedAt().setExpirationTime('5m').sign(es), 'audience');
await refused('unknown kid',
  await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'ES256', kid: 'nope' })
    .setIssuedAt().setExpirationTime('5m').sign(es), 'kid_unknown');
await refused('ES256 kid with ES384 header (key/alg mismatch)',
  await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'ES384', kid: 'svid-ES256' })
    .setIssuedAt().setExpirationTime('5m').sign(signers.ES384.privateKey), 'key_alg_mismatch');
await refused('sub not a SPIFFE ID',
  await new jose.SignJWT({ sub: 'triage-bot', aud: 'writ' }).setProtectedHeader({ alg: 'ES256', kid: 'svid-ES256' })
    .setIssuedAt().setExpirationTime('5m').sign(es), 'subject');
await refused('OIDC token from an unpinned issuer',
  await new jose.SignJWT({ sub: 'x', aud: 'writ' }).setProtectedHeader({ alg: 'ES256', kid: 'oidc-ES256' })
    .setIssuer('https://evil.example').setIssuedAt().setExpirationTime('5m').sign(es), 'issuer');
{
  const good = await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'ES256', kid: 'svid-ES256' })
    .setIssuedAt().setExpirationTime('5m').sign(es);
  const [h, , s] = good.split('.');
  const evil = Buffer.from(JSON.stringify({ sub: 'spiffe://corp.example/agents/admin', aud: 'writ',
    iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
  await refused('tampered payload', `${h}.${evil}.${s}`, 'bad_signature');
  ok(exchange(lowS(good)).code === 0, 'the low-S form of a jose ES256 SVID is accepted');
  await refused('the high-S twin of a jose ES256 SVID', highS(good), 'bad_signature', true);
  const good384 = await new jose.SignJWT({ sub, aud: 'writ' }).setProtectedHeader({ alg: 'ES384', kid: 'svid-ES384' })
    .setIssuedAt().setExpirationTime('5m').sign(signers.ES384.privateKey);
  await refused('the high-S twin of a jose ES384 SVID', highS(good384), 'bad_signature', true);
}

console.log(`${checks - failures}/${checks} interop checks passed`);
process.exit(failures ? 1 : 0);
