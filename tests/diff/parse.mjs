#!/usr/bin/env node
// parse.mjs - differential test of the policy parser: mutated policy text, accepted or not.
//
//   node tests/diff/parse.mjs WRIT_BIN [--seed S] [--count N] [--verbose]
//
// Takes random policies from gen.mjs, damages them (deletes, duplicates or swaps a token,
// inserts a token from a list of troublemakers, drops a character), and asks both engines.
// They must agree on rejecting the text; when both accept it they must also decide one
// request alike (decision, reasons, errors), which catches misparses that still parse
// (precedence, associativity, escapes).  Exit status 1 on any disagreement; each
// disagreement is printed with the policy text.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeRng } from '../../bench/prng.mjs';
import { loadCedar } from '../../bench/cedar_peer.mjs';
import { makeGen } from './gen.mjs';

const INSERTS = ['(', ')', ',', ';', '==', '!=', 'in', 'is', 'has', 'like', '.', '[', ']', '{', '}', '"', '\\', '-',
    '!', 'if', 'then', 'else', 'principal', '@id("x")', '::', '0', '9223372036854775808', '&&', '||', '<', '*',
    '+', 'when', 'unless', 'permit', 'forbid', ':', '?', '//', '/*', '\n', '"\\*"', '"\\q"', '"\\u{110000}"',
    'Action::', '.contains', '()', '__cedar', 'true', 'context', '-9223372036854775808', '_', '#'];

function tokens(text) {
    return text.match(/"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+|::|==|!=|<=|>=|&&|\|\||\s+|./gs) || [];
}

function mutate(rng, text) {
    const t = tokens(text);
    const i = rng.int(0, Math.max(0, t.length - 1));
    switch (rng.int(0, 4)) {
    case 0: t.splice(i, 1); break;
    case 1: t.splice(i, 0, t[i] || ''); break;
    case 2: { const j = rng.int(0, t.length - 1); [t[i], t[j]] = [t[j], t[i]]; break; }
    case 3: t.splice(i, 0, ` ${rng.pick(INSERTS)} `); break;
    default: {
        const s = t.join('');
        const k = rng.int(0, Math.max(0, s.length - 1));
        return s.slice(0, k) + s.slice(k + 1);
    }
    }
    return t.join('');
}

function main() {
    const args = process.argv.slice(2);
    const writ = args[0];
    if (!writ) throw new Error('usage: parse.mjs WRIT_BIN [--seed S] [--count N] [--verbose]');
    const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
    const seed = opt('--seed', '1');
    const count = Number(opt('--count', '500'));
    const verbose = args.includes('--verbose');
    const cedar = loadCedar();
    // `writ authorize` names a policy by its @id, as the Cedar CLI does (policyN without
    // one), and refuses a set where two policies would get one name; the reference engine,
    // given the text, names them policyN.  The names writ gives, by the reference's own
    // parse of each policy; 'dup' when writ must refuse the set; null: no mapping.
    const cliNames = (cedar, text) => {
        const parts = cedar.policySetTextToParts(text);
        if (parts.type !== 'success' || parts.policy_templates.length) return null;
        const names = parts.policies.map((p, i) => {
            const j = cedar.policyToJson(p);
            const id = j.type === 'success' && j.json.annotations ? j.json.annotations.id : undefined;
            return id !== undefined && id !== null ? id : `policy${i}`;
        });
        return new Set(names).size !== names.length || names.includes('') ? 'dup' : names;
    };
    const dir = mkdtempSync(join(tmpdir(), 'writ-parse-'));
    let bad = 0, rejected = 0;
    for (let k = 0; k < count; k++) {
        const rng = makeRng(`${seed}/parse/${k}`);
        const G = makeGen(rng);
        G.W = G.world();
        let text = '';
        for (let i = rng.int(1, 3); i > 0; i--) text += G.policy() + '\n';
        for (let m = rng.int(1, 2); m > 0; m--) text = mutate(rng, text);
        const q = G.request(G.W);
        const a = cedar.isAuthorized({ ...q, policies: { staticPolicies: text }, entities: G.W.ents });
        let ref;
        const names = a.type === 'success' ? cliNames(cedar, text) : null;
        if (names === 'dup') {
            ref = 'reject';
        } else if (a.type === 'success') {
            const d = a.response.diagnostics;
            const n = (id) => (names && /^policy\d+$/.test(id) ? names[+id.slice(6)] ?? id : id);
            ref = `${a.response.decision} ${JSON.stringify(d.reason.map(n).sort())} ${JSON.stringify(d.errors.map((e) => n(e.policyId)).sort())}`;
        } else {
            ref = 'reject';
            rejected++;
        }
        writeFileSync(join(dir, 'p.cedar'), text);
        writeFileSync(join(dir, 'e.json'), JSON.stringify(G.W.ents));
        writeFileSync(join(dir, 'r.json'), JSON.stringify(q));
        // `writ authorize` prints the decision and exits 0 on allow, 1 on deny; anything
        // without a decision on stdout is a rejection of the input
        let out = '';
        let err = '';
        try {
            out = execFileSync(writ, ['authorize', '--policies', join(dir, 'p.cedar'), '--entities',
                join(dir, 'e.json'), '--request', join(dir, 'r.json')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        } catch (e) {
            out = String(e.stdout);
            err = String(e.stderr);
        }
        let got = 'reject';
        try {
            const d = JSON.parse(out);
            got = `${d.decision} ${JSON.stringify(d.reasons.slice().sort())} ${JSON.stringify(d.errors.map((x) => x.policy).sort())}`;
        } catch {
            if (verbose && ref !== 'reject') console.log(`writ: ${err.trim()}`);
        }
        if (got !== ref) {
            bad++;
            const why = a.type === 'success' ? '' : ` (${a.errors[0].message.split('\n')[0].slice(0, 100)})`;
            console.log(`DIFF probe ${k}: cedar-wasm ${ref}${why} | writ ${got}\n${text.replace(/^/gm, '    ')}`);
        }
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(`parse: ${count - bad} agree, ${bad} disagree (${rejected} rejected by the reference)`);
    process.exitCode = bad ? 1 : 0;
}

main();
