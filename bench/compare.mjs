#!/usr/bin/env node
// compare.mjs - compare two decision files (one JSON line per request) from the two engines.
//
//   node bench/compare.mjs REF.jsonl WRIT.jsonl [requests.json]
//
// First output line: `agree N/N` or `DISAGREE K/N`; then one line per disagreement
// with the request.  Exit status 1 on any disagreement.

import { readFileSync } from 'node:fs';

const load = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const [refF, writF, reqF] = process.argv.slice(2);
const ref = load(refF);
const writ = load(writF);
const reqs = reqF ? JSON.parse(readFileSync(reqF, 'utf8')) : [];
const key = (d) => d ? `${d.decision} reason=${JSON.stringify([...d.reason].sort())} errors=${JSON.stringify([...d.errors].sort())}` : 'missing';
const bad = [];
for (let i = 0; i < Math.max(ref.length, writ.length); i++) {
    const a = key(ref[i]), b = key(writ[i]);
    if (a !== b) bad.push(`request ${i}: cedar-wasm ${a} | writ ${b}${reqs[i] ? ' | ' + JSON.stringify(reqs[i]) : ''}`);
}
console.log(bad.length ? `DISAGREE ${bad.length}/${ref.length}` : `agree ${ref.length}/${ref.length}`);
for (const l of bad) console.log(l);
process.exitCode = bad.length ? 1 : 0;
