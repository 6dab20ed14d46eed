// The same decision through the reference engine (cedar-wasm, WebAssembly in
// Node), the policies pre-parsed, timed per call.
//   node bench_ref.mjs POLICIES ENTITIES SCHEMA REQUEST [N]
// Prints "cedar-wasm median_ns p99_ns decisions allow".
import { readFileSync } from 'node:fs';
import { loadCedar } from '../cedar_peer.mjs';

const [pol, ent, sch, reqf, nArg] = process.argv.slice(2);
const n = Number(nArg || 20000);
const cedar = loadCedar();
const pr = cedar.preparsePolicySet('lib', { staticPolicies: readFileSync(pol, 'utf8') });
if (pr.type !== 'success') throw new Error(JSON.stringify(pr.errors));
const r = JSON.parse(readFileSync(reqf, 'utf8'));
const call = {
  principal: r.principal, action: r.action, resource: r.resource, context: r.context,
  preparsedPolicySetId: 'lib', entities: JSON.parse(readFileSync(ent, 'utf8')),
};
let allow = 0;
for (let i = 0; i < 200; i++) cedar.statefulIsAuthorized(call);
const ns = new Array(n);
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const a = cedar.statefulIsAuthorized(call);
  ns[i] = Number(process.hrtime.bigint() - t0);
  if (a.type !== 'success') throw new Error(JSON.stringify(a.errors));
  if (a.response.decision === 'allow') allow++;
}
ns.sort((x, y) => x - y);
console.log(`cedar-wasm ${ns[n >> 1]} ${ns[Math.floor(n * 0.99)]} ${n} ${allow}`);
void sch; // the context is explicit JSON (__extn): no schema needed to read it
