#!/usr/bin/env node
// ref_cedar.mjs - time the reference engine (cedar-wasm) on a gen_agents.mjs set.
//
//   node bench/ref_cedar.mjs DIR [--name NAME] [--budget-ms MS] [--decisions FILE] [--full-entities]
//
// The fairest path the wasm API offers: the policy set is parsed once
// (preparsePolicySet) and each decision is a statefulIsAuthorized call.  The API has no
// stateful entity store, so each call passes the request's entity slice: principal,
// action, resource, everything reachable from them through parents and entity-valued
// attributes (what a host would fetch per request).  --full-entities passes the whole
// store instead.  Prints one RESULT line in the format bench_cedar prints; with
// --decisions, writes one JSON line per request: {"i", "decision", "reason", "errors"}.

import { readFileSync, writeFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { loadCedar } from './cedar_peer.mjs';
import { measure, resultLine } from './timing.mjs';

function parseArgs(argv) {
    const o = { dir: null, name: null, budgetMs: 3000, decisions: null, full: false };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--name') o.name = argv[++i];
        else if (a === '--budget-ms') o.budgetMs = Number(argv[++i]);
        else if (a === '--decisions') o.decisions = argv[++i];
        else if (a === '--full-entities') o.full = true;
        else if (!o.dir) o.dir = a;
        else throw new Error(`unexpected argument ${a}`);
    }
    if (!o.dir) throw new Error('usage: ref_cedar.mjs DIR [--name NAME] [--budget-ms MS] [--decisions FILE]');
    o.name ||= basename(o.dir);
    return o;
}

const k = (u) => `${u.type}::${u.id}`;

// Entity uids referenced from a JSON attribute value ({"__entity": {...}}).
function refs(v, out) {
    if (Array.isArray(v)) { for (const x of v) refs(x, out); return; }
    if (v && typeof v === 'object') {
        if (v.__entity) { out.push(v.__entity); return; }
        if (v.__extn) return;
        for (const x of Object.values(v)) refs(x, out);
    }
}

export function entitySlice(byKey, roots) {
    const seen = new Set();
    const out = [];
    const stack = roots.slice();
    while (stack.length) {
        const u = stack.pop();
        const key = k(u);
        if (seen.has(key)) continue;
        seen.add(key);
        const e = byKey.get(key);
        if (!e) continue;
        out.push(e);
        for (const p of e.parents || []) stack.push(p);
        const r = [];
        refs(e.attrs || {}, r);
        stack.push(...r);
    }
    return out;
}

function main() {
    const o = parseArgs(process.argv);
    const cedar = loadCedar();
    const policies = readFileSync(join(o.dir, 'policies.cedar'), 'utf8');
    const entities = JSON.parse(readFileSync(join(o.dir, 'entities.json'), 'utf8'));
    const reqs = JSON.parse(readFileSync(join(o.dir, 'requests.json'), 'utf8'));
    const pid = `bench-${o.name}`;
    const pr = cedar.preparsePolicySet(pid, { staticPolicies: policies });
    if (pr.type !== 'success') throw new Error(`preparsePolicySet: ${JSON.stringify(pr.errors)}`);
    const byKey = new Map(entities.map((e) => [k(e.uid), e]));
    // Build every call object up front: the timing covers the engine call only.
    const calls = reqs.map((r) => {
        const refsCtx = [];
        refs(r.context, refsCtx);
        return {
            principal: r.principal, action: r.action, resource: r.resource, context: r.context,
            preparsedPolicySetId: pid,
            entities: o.full ? entities : entitySlice(byKey, [r.principal, r.action, r.resource, ...refsCtx]),
        };
    });
    const answers = new Array(calls.length);
    for (let i = 0; i < calls.length; i++) {
        const a = cedar.statefulIsAuthorized(calls[i]);
        if (a.type !== 'success') throw new Error(`request ${i}: ${JSON.stringify(a.errors)}`);
        answers[i] = a.response;
    }
    const m = measure(calls.length, (i) => cedar.statefulIsAuthorized(calls[i]), o.budgetMs * 1e6);
    const allows = answers.filter((a) => a.decision === 'allow').length;
    console.log(resultLine('cedar-wasm', o.name, m) + ` allow=${allows} deny=${answers.length - allows}`);
    if (o.decisions) {
        const lines = answers.map((a, i) => JSON.stringify({
            i, decision: a.decision,
            reason: a.diagnostics.reason.slice().sort(),
            errors: a.diagnostics.errors.map((e) => e.policyId).sort(),
        }));
        writeFileSync(o.decisions, lines.join('\n') + '\n');
    }
}

main();
