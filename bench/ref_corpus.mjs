#!/usr/bin/env node
// ref_corpus.mjs - run conformance test files through cedar-wasm, like `writ conformance`.
//
//   node bench/ref_corpus.mjs [conformance] [--root DIR] [--verbose] [--time] PATH...
//
// Reads test files in the format of the Cedar integration tests (policies, entities,
// optional schema, requests with expected decision / reason / errors), decides each
// request with cedar-wasm and prints `N passed, N failed`; with --time also
// `decision time: median N ns, p99 N ns, N decisions`, the line `writ conformance --time`
// prints.  Two uses: a check that the reference agrees with the expected answers (so the
// corpus and the differential generator are sound), and the reference side of the
// corpus timing in bench/run.sh.  The leading word `conformance` is accepted so the
// script can stand in for the writ binary in tests/diff/run.sh.
//
// Timing: policy sets and schemas are pre-parsed once per file (not timed); each timed
// decision is one statefulIsAuthorized call, which receives the file's entities (the
// wasm API keeps no entity store).  A decision's time is the median of 5 rounds of a
// batch lasting >= 2 us, as in bench/timing.mjs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCedar } from './cedar_peer.mjs';
import { percentile } from './timing.mjs';

function parseArgs(argv) {
    const o = { root: '.', verbose: false, time: false, files: [] };
    let i = 2;
    if (argv[i] === 'conformance') i++;
    for (; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--root') o.root = argv[++i];
        else if (a === '--verbose') o.verbose = true;
        else if (a === '--time') o.time = true;
        else o.files.push(a);
    }
    return o;
}

const sameSet = (a, b) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

function main() {
    const o = parseArgs(process.argv);
    const cedar = loadCedar();
    let passed = 0, failed = 0, nfile = 0;
    const times = [];
    const now = () => process.hrtime.bigint();
    for (const f of o.files) {
        const t = JSON.parse(readFileSync(f, 'utf8'));
        const pid = `f${nfile}`;
        const sid = `s${nfile}`;
        nfile++;
        const policies = readFileSync(join(o.root, t.policies), 'utf8');
        const entities = JSON.parse(readFileSync(join(o.root, t.entities), 'utf8'));
        const pr = cedar.preparsePolicySet(pid, { staticPolicies: policies });
        let schemaOk = true;
        if (t.schema) {
            const sr = cedar.preparseSchema(sid, readFileSync(join(o.root, t.schema), 'utf8'));
            schemaOk = sr.type === 'success';
        }
        for (const [k, r] of t.requests.entries()) {
            const call = {
                principal: r.principal, action: r.action, resource: r.resource, context: r.context,
                preparsedPolicySetId: pid, entities,
                validateRequest: !!r.validateRequest,
            };
            if (t.schema && schemaOk) call.preparsedSchemaName = sid;
            let got;
            if (pr.type !== 'success') got = { decision: 'deny', reason: [], errors: [], failure: 'policy parse' };
            else {
                const a = cedar.statefulIsAuthorized(call);
                if (a.type === 'success') {
                    got = {
                        decision: a.response.decision,
                        reason: a.response.diagnostics.reason,
                        errors: a.response.diagnostics.errors.map((e) => e.policyId),
                    };
                } else {
                    got = { decision: 'deny', reason: [], errors: [], failure: a.errors.map((e) => e.message).join('; ') };
                }
                if (o.time && a.type === 'success') {
                    let t1 = now();
                    cedar.statefulIsAuthorized(call);
                    const single = Math.max(1, Number(now() - t1));
                    const batch = Math.max(1, Math.ceil(2000 / single));
                    const rounds = [];
                    for (let q = 0; q < 5; q++) {
                        t1 = now();
                        for (let b = 0; b < batch; b++) cedar.statefulIsAuthorized(call);
                        rounds.push(Number(now() - t1) / batch);
                    }
                    rounds.sort((x, y) => x - y);
                    times.push(rounds[2]);
                }
            }
            const ok = got.decision === r.decision && sameSet(got.reason, r.reason) && sameSet(got.errors, r.errors);
            if (ok) passed++;
            else {
                failed++;
                if (o.verbose) {
                    console.log(`FAIL ${f} request ${k}: expected ${r.decision} ${JSON.stringify(r.reason)} ` +
                        `errors ${JSON.stringify(r.errors)}, got ${got.decision} ${JSON.stringify(got.reason)} ` +
                        `errors ${JSON.stringify(got.errors)}${got.failure ? ` (${got.failure})` : ''}`);
                }
            }
        }
    }
    console.log(`${passed} passed, ${failed} failed`);
    if (o.time) {
        times.sort((x, y) => x - y);
        console.log(`decision time: median ${Math.round(percentile(times, 50))} ns, p99 ${Math.round(percentile(times, 99))} ns, ${times.length} decisions`);
    }
    process.exitCode = failed ? 1 : 0;
}

main();
