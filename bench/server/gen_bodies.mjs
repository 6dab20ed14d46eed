#!/usr/bin/env node
// gen_bodies.mjs - the AuthZEN request bodies for bench/server/run.sh.
//
//   node bench/server/gen_bodies.mjs --set DIR [--out FILE]
//   node bench/server/gen_bodies.mjs --check URL --bodies FILE
//
// --set DIR reads DIR/requests.json, a set written by bench/gen_agents.mjs (the
// Cedar benchmark's agent workload; run.sh uses its 100-policy set), and writes one
// AuthZEN evaluation body per request, one per line, to FILE (default
// DIR/bodies.jsonl):
//
//   {"subject": {"type": "Agent", "id": ...}, "action": {"name": ...},
//    "resource": {"type": ..., "id": ...}, "context": {...}}
//
// The context is the request's own (purpose, destination, source IP, a decimal
// amount as an `__extn` value, hour, MFA flag, session tags, time, sometimes a
// justification) plus a delegation chain, `chain`: 0-2 `__entity` references to
// other agents of the set, with `chain_depth` its length, as Writ's token path
// puts in a context.  No policy of the set reads `chain`, so every decision is the
// one the reference engine gives for the set's request (bench/run.sh checks
// those); the chain is there so that every body carries entity references and
// extension values in its context, like real traffic.  Same set, same bytes.
//
// --check URL posts every body once to URL (Writ's /access/v1/evaluation) and
// prints "N bodies: A allow, D deny, E errors"; exits 1 when any answer is not
// HTTP 200 or carries errors, so that the benchmark never measures refusals.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRng } from '../prng.mjs';

function parseArgs(argv) {
    const o = { set: null, out: null, check: null, bodies: null };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--set') o.set = argv[++i];
        else if (a === '--out') o.out = argv[++i];
        else if (a === '--check') o.check = argv[++i];
        else if (a === '--bodies') o.bodies = argv[++i];
        else throw new Error(`unknown argument ${a}`);
    }
    if (!o.set && !(o.check && o.bodies)) throw new Error('usage: --set DIR [--out FILE] | --check URL --bodies FILE');
    return o;
}

function generate(o) {
    const requests = JSON.parse(readFileSync(join(o.set, 'requests.json'), 'utf8'));
    const agents = [...new Set(requests.map((r) => r.principal.id))].sort();
    const rng = makeRng(`bench-server-bodies/${requests.length}`);
    const lines = requests.map((r) => {
        const others = agents.filter((a) => a !== r.principal.id);
        const chain = rng.sample(others, rng.int(0, 2)).map((id) => ({ __entity: { type: 'Agent', id } }));
        const body = {
            subject: { type: r.principal.type, id: r.principal.id },
            action: { name: r.action.id },
            resource: { type: r.resource.type, id: r.resource.id },
            context: { ...r.context, chain, chain_depth: chain.length },
        };
        return JSON.stringify(body);
    });
    const out = o.out || join(o.set, 'bodies.jsonl');
    writeFileSync(out, lines.join('\n') + '\n');
    const bytes = lines.reduce((n, l) => n + l.length, 0);
    console.error(`gen_bodies: ${lines.length} bodies, ${Math.round(bytes / lines.length)} bytes each on average -> ${out}`);
}

async function check(o) {
    const lines = readFileSync(o.bodies, 'utf8').split('\n').filter((l) => l.length);
    let allow = 0, deny = 0, errors = 0;
    for (const [i, body] of lines.entries()) {
        const res = await fetch(o.check, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
        const text = await res.text();
        let a = null;
        try { a = JSON.parse(text); } catch { /* counted below */ }
        const errs = a && a.context && Array.isArray(a.context.errors) ? a.context.errors.length : 0;
        if (res.status !== 200 || !a || typeof a.decision !== 'boolean' || errs) {
            if (errors < 3) console.error(`gen_bodies: body ${i + 1}: HTTP ${res.status} ${text.slice(0, 300)}`);
            errors++;
        } else if (a.decision) allow++;
        else deny++;
    }
    console.log(`${lines.length} bodies: ${allow} allow, ${deny} deny, ${errors} errors`);
    process.exit(errors ? 1 : 0);
}

const o = parseArgs(process.argv);
if (o.check) await check(o);
else generate(o);
