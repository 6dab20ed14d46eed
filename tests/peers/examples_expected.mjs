// examples_expected.mjs - check examples/ with the reference Cedar engine and
// write examples/requests/expected.json.
//
//   node tests/peers/examples_expected.mjs          validate, decide, write
//   node tests/peers/examples_expected.mjs --check  validate, decide, compare
//
// The policies must pass strict validation against the schema, and every
// request must validate too.  Policy ids are as `writ authorize` and `writ
// serve` name them: the @id annotation, else policyN.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ex = path.join(repo, 'examples');
const check = process.argv.includes('--check');

const policies = fs.readFileSync(path.join(ex, 'policies.cedar'), 'utf8');
const schema = fs.readFileSync(path.join(ex, 'schema.cedarschema'), 'utf8');
const entities = JSON.parse(fs.readFileSync(path.join(ex, 'entities.json'), 'utf8'));

// Given as one text, the engine names the policies policy0.. in order of
// appearance, as the conformance data do; Writ's CLI and server name a policy
// by its @id (as the Cedar CLI does), so policyN maps to the N-th policy's
// @id.  The example file keeps one policy's annotations on the lines right
// before its `permit`/`forbid`, which is all this scan reads.
const staticPolicies = policies;
const annotatedId = [];
{
    let pending = null;
    for (const raw of policies.split('\n')) {
        const line = raw.trim();
        if (line.startsWith('//')) continue;
        const m = /^@id\("([^"\\]*)"\)/.exec(line);
        if (m) pending = m[1];
        if (/^(permit|forbid)\b/.test(line)) { annotatedId.push(pending); pending = null; }
    }
}
const writId = id => { const m = /^policy(\d+)$/.exec(id); return (m && annotatedId[+m[1]]) || id; };

let bad = 0;
const v = cedar.validate({ schema, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
if (v.type !== 'success') {
    console.error('schema or policies do not parse:', JSON.stringify(v.errors, null, 2));
    process.exit(1);
}
for (const e of v.validationErrors) { console.error(`validation: ${e.policyId}: ${e.error.message}`); bad++; }
for (const w of v.validationWarnings) console.error(`warning: ${w.policyId}: ${w.error.message}`);

const dir = path.join(ex, 'requests');
const expected = {};
for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.json') && f !== 'expected.json').sort()) {
    const rq = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const a = cedar.isAuthorized({ ...rq, schema, validateRequest: true, policies: { staticPolicies }, entities });
    if (a.type !== 'success') {
        console.error(`${f}: ${a.errors.map(e => e.message).join('; ')}`);
        bad++;
        continue;
    }
    const d = a.response;
    expected[f] = {
        decision: d.decision,
        reasons: [...d.diagnostics.reason].map(writId).sort(),
        errors: d.diagnostics.errors.map(e => writId(e.policyId)).sort(),
    };
    if (d.diagnostics.errors.length)
        console.error(`${f}: evaluation errors: ${JSON.stringify(d.diagnostics.errors)}`);
    console.log(`${f}: ${d.decision} ${expected[f].reasons.join(',')}`);
}

const out = path.join(dir, 'expected.json');
const text = JSON.stringify(expected, null, 2) + '\n';
if (check) {
    const old = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    if (old !== text) { console.error(`${out} is out of date: run without --check`); bad++; }
} else {
    fs.writeFileSync(out, text);
}
process.exit(bad ? 1 : 0);
