#!/usr/bin/env node
// inputs.mjs - differential test of input acceptance: which entity stores and requests the
// reference rejects (isAuthorized answers "failure") and which it accepts.
//
//   node tests/diff/inputs.mjs WRIT_BIN [--verbose]
//
// The conformance format can only hold inputs the reference accepts, so these cases are
// checked here: each is run through cedar-wasm and through `WRIT_BIN authorize`, and they
// must agree on accept (with the same decision) or reject.  Exit status 1 on any
// disagreement.  Add a case for every input-handling difference found.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadCedar } from '../../bench/cedar_peer.mjs';

const U = (id) => ({ type: 'User', id });
const E = (uid, attrs = {}, parents = [], extra = {}) => ({ uid, attrs, parents, ...extra });
const x = (fn, arg) => ({ __extn: { fn, arg } });
const base = { principal: U('a'), action: { type: 'Action', id: 'x' }, resource: U('b'), context: {} };

// name -> { ents, ctx?, req? }
const CASES = {
    cycle: { ents: [E(U('a'), {}, [U('b')]), E(U('b'), {}, [U('a')])] },
    self_cycle: { ents: [E(U('a'), {}, [U('a')])] },
    long_cycle: { ents: [E(U('a'), {}, [U('b')]), E(U('b'), {}, [U('c')]), E(U('c'), {}, [U('a')])] },
    dup_entity: { ents: [E(U('a')), E(U('a'), { x: 1 })] },
    bad_decimal_attr: { ents: [E(U('a'), { d: x('decimal', '1.23456') })] },
    ipv4_in_v6_attr: { ents: [E(U('a'), { d: x('ip', '::ffff:1.2.3.4') })] },
    bad_datetime_attr: { ents: [E(U('a'), { d: x('datetime', '2024-13-01') })] },
    bad_duration_attr: { ents: [E(U('a'), { d: x('duration', '1x') })] },
    unknown_extn: { ents: [E(U('a'), { d: x('nope', 'x') })] },
    extn_args_form: { ents: [E(U('a'), { d: { __extn: { fn: 'decimal', args: ['1.0'] } } })] },
    extn_args_two: { ents: [E(U('a'), { d: { __extn: { fn: 'decimal', args: ['1.0', '2.0'] } } })] },
    entity_extra_field: { ents: [E(U('a'), { d: { __entity: { type: 'User', id: 'b', x: 1 } } })] },
    entity_type_digit: { ents: [E({ type: '1User', id: 'a' })] },
    entity_type_spaces: { ents: [E({ type: 'A :: B', id: 'a' })] },
    entity_type_reserved: { ents: [E({ type: 'if', id: 'a' })] },
    entity_type_cedar_ns: { ents: [E({ type: '__cedar::X', id: 'a' })] },
    entity_type_ns: { ents: [E({ type: 'A::B', id: 'a' })] },
    entity_type_empty: { ents: [E({ type: '', id: 'a' })] },
    attr_entity_bad_type: { ents: [E(U('a'), { d: { __entity: { type: 'A::', id: 'b' } } })] },
    parent_bad_type: { ents: [E(U('a'), {}, [{ type: 'if', id: 'b' }])] },
    uid_escape: { ents: [E({ __entity: U('a') })] },
    parent_escape: { ents: [E(U('a'), {}, [{ __entity: U('b') }])] },
    bare_entity_attr: { ents: [E(U('a'), { d: { type: 'User', id: 'b' } })] },
    null_attr: { ents: [E(U('a'), { d: null })] },
    float_attr: { ents: [E(U('a'), { d: 1.5 })] },
    missing_attrs: { ents: [{ uid: U('a'), parents: [] }] },
    missing_parents: { ents: [{ uid: U('a'), attrs: {} }] },
    extra_key: { ents: [E(U('a'), {}, [], { foo: 1 })] },
    tags_null: { ents: [E(U('a'), {}, [], { tags: null })] },
    tags_array: { ents: [E(U('a'), {}, [], { tags: [1] })] },
    tags_bad_value: { ents: [E(U('a'), {}, [], { tags: { t: null } })] },
    action_non_action_parent: { ents: [E({ type: 'Action', id: 'x' }, {}, [U('a')])] },
    ns_action_parent: { ents: [E({ type: 'NS::Action', id: 'x' }, {}, [{ type: 'Action', id: 'y' }])] },
    ctx_null: { ents: [], ctx: { d: null } },
    ctx_float: { ents: [], ctx: { d: 1.5 } },
    ctx_bad_decimal: { ents: [], ctx: { d: x('decimal', 'x') } },
    ctx_dup_set: { ents: [], ctx: { d: [1, 1] } },
    ctx_extn_extra: { ents: [], ctx: { d: { __extn: { fn: 'decimal', arg: '1.0' }, y: 1 } } },
    ctx_entity_bad_type: { ents: [], ctx: { d: { __entity: { type: 'if', id: 'a' } } } },
    req_type_empty: { ents: [], req: { principal: { type: '', id: 'a' } } },
    req_type_space: { ents: [], req: { principal: { type: ' User', id: 'a' } } },
    req_type_reserved: { ents: [], req: { resource: { type: 'then', id: 'a' } } },
    req_action_not_action: { ents: [], req: { action: { type: 'User', id: 'x' } } },
};

function main() {
    const writ = process.argv[2];
    const verbose = process.argv.includes('--verbose');
    if (!writ) throw new Error('usage: inputs.mjs WRIT_BIN [--verbose]');
    const cedar = loadCedar();
    const dir = mkdtempSync(join(tmpdir(), 'writ-inputs-'));
    const pol = 'permit(principal, action, resource);\n';
    writeFileSync(join(dir, 'p.cedar'), pol);
    let bad = 0;
    for (const [name, c] of Object.entries(CASES)) {
        const q = { ...base, ...(c.req || {}), context: c.ctx || {} };
        const a = cedar.isAuthorized({ ...q, policies: { staticPolicies: pol }, entities: c.ents });
        const ref = a.type === 'success' ? a.response.decision : 'reject';
        writeFileSync(join(dir, 'e.json'), JSON.stringify(c.ents));
        writeFileSync(join(dir, 'r.json'), JSON.stringify(q));
        // `writ authorize` exits 0 on allow, 1 on deny: a decision on stdout means accepted
        let out = '';
        try {
            out = execFileSync(writ, ['authorize', '--policies', join(dir, 'p.cedar'), '--entities',
                join(dir, 'e.json'), '--request', join(dir, 'r.json')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        } catch (e) {
            out = String(e.stdout);
        }
        let got = 'reject';
        try {
            got = JSON.parse(out).decision ?? 'reject';
        } catch {
            got = 'reject';
        }
        const same = ref === got;
        if (!same) bad++;
        if (!same || verbose) {
            const why = a.type === 'success' ? '' : ` (${a.errors[0].message.split('\n')[0].slice(0, 100)})`;
            console.log(`${same ? 'ok  ' : 'DIFF'} ${name}: cedar-wasm ${ref}${why}, writ ${got}`);
        }
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(`inputs: ${Object.keys(CASES).length - bad} agree, ${bad} disagree`);
    process.exitCode = bad ? 1 : 0;
}

main();
