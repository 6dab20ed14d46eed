#!/usr/bin/env node
// validate.mjs - differential test of the policy validator against cedar-wasm's `validate`.
//
//   node tests/diff/validate.mjs WRIT_BIN [--seed S] [--count N] [--first K] [--verbose] [--keep DIR]
//   node tests/diff/validate.mjs WRIT_BIN --cases FILE     hand-written cases: a schema, a line
//                                                          `%%`, then one policy per line
//
// Each case is a random schema (entity types with parents, attributes of every type, some
// optional, tags, an enumerated type, actions with appliesTo, an action group, contexts)
// and 1-3 random policies built by a typed expression generator that reads the schema:
// mostly well-typed (optional attributes behind `has`, tags behind `hasTag`, scopes that
// name an action's principal type) and on purpose ill-typed now and then (an unguarded
// optional attribute, mixed sets, an empty set, `if` branches of two types, an unknown
// type or action, a bad extension literal, a wrong operand, a scope no action applies to).
// The reference validates in strict mode; Writ's `writ validate` must agree on valid
// (no errors) or invalid for every case, and on rejecting text neither should accept.
// Exit status 1 on any disagreement; each is printed with its schema and policies.

import { writeFileSync, readFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeRng } from '../../bench/prng.mjs';
import { loadCedar } from '../../bench/cedar_peer.mjs';

const TYPE_NAMES = ['User', 'Group', 'Doc', 'Folder', 'Agent'];
const ATTR_NAMES = ['age', 'name', 'flag', 'tags', 'nums', 'owner', 'info', 'addr', 'amount', 'when', 'ttl', 'level'];
const KINDS = ['Long', 'String', 'Bool', 'Set<String>', 'Set<Long>', 'ENTITY', 'REC', 'ipaddr', 'decimal', 'datetime',
    'duration'];

// ---- the schema

function genSchema(rng) {
    const ns = rng.chance(0.3) ? 'App' : '';
    const types = rng.sample(TYPE_NAMES, rng.int(2, 4));
    const ents = types.map((name, i) => {
        const parents = types.slice(0, i).filter(() => rng.chance(0.4));
        const attrs = {};
        for (const a of rng.sample(ATTR_NAMES, rng.int(0, 5))) {
            let k = rng.pick(KINDS);
            const t = { k, opt: rng.chance(0.35) };
            if (k === 'ENTITY') t.ety = rng.pick(types);
            if (k === 'REC') t.rec = { x: { k: 'Long', opt: false }, y: { k: 'String', opt: rng.chance(0.5) } };
            attrs[a] = t;
        }
        return { name, parents, attrs, tags: rng.chance(0.3) ? rng.pick(['String', 'Long']) : null };
    });
    const enumType = rng.chance(0.4) ? { name: 'Color', ids: ['red', 'blue'] } : null;
    const actions = [];
    const hasGroup = rng.chance(0.4);
    for (let i = 0, n = rng.int(1, 3); i < n; i++) {
        actions.push({
            name: `a${i}`,
            group: hasGroup && rng.chance(0.6),
            principals: rng.sample(types, rng.int(1, 2)),
            resources: rng.sample(enumType && rng.chance(0.2) ? [...types, 'Color'] : types, rng.int(1, 2)),
            context: rng.chance(0.6) ? { flag: { k: 'Bool', opt: false }, n: { k: 'Long', opt: rng.chance(0.5) },
                src: { k: 'ipaddr', opt: false } } : {},
        });
    }
    return { ns, ents, enumType, actions, hasGroup };
}

function typeText(t) {
    switch (t.k) {
    case 'ENTITY': return t.ety;
    case 'REC': return `{ ${Object.entries(t.rec).map(([n, a]) => `${n}${a.opt ? '?' : ''}: ${typeText(a)}`).join(', ')} }`;
    default: return t.k;
    }
}

function schemaText(S) {
    const lines = [];
    for (const e of S.ents) {
        const attrs = Object.entries(e.attrs).map(([n, t]) => `${n}${t.opt ? '?' : ''}: ${typeText(t)}`).join(', ');
        lines.push(`entity ${e.name}${e.parents.length ? ` in [${e.parents.join(', ')}]` : ''} { ${attrs} }` +
            `${e.tags ? ` tags ${e.tags}` : ''};`);
    }
    if (S.enumType) lines.push(`entity ${S.enumType.name} enum [${S.enumType.ids.map((i) => `"${i}"`).join(', ')}];`);
    if (S.hasGroup) lines.push('action grp;');
    for (const a of S.actions) {
        const ctx = Object.entries(a.context).map(([n, t]) => `${n}${t.opt ? '?' : ''}: ${typeText(t)}`).join(', ');
        lines.push(`action ${a.name}${a.group ? ' in [grp]' : ''} appliesTo { principal: [${a.principals.join(', ')}], ` +
            `resource: [${a.resources.join(', ')}], context: { ${ctx} } };`);
    }
    const body = lines.join('\n');
    return S.ns ? `namespace ${S.ns} {\n${body}\n}\n` : `${body}\n`;
}

// ---- policies

function makePolicyGen(rng, S) {
    const q = (n) => (S.ns ? `${S.ns}::${n}` : n);
    const ent = (n) => S.ents.find((e) => e.name === n);
    const bad = () => rng.chance(0.06);         // an on-purpose mistake at this node
    const lits = {
        Long: () => String(rng.int(-3, 100)),
        String: () => JSON.stringify(rng.pick(['a', 'bob', '', 'x*'])),
        Bool: () => rng.pick(['true', 'false']),
        'Set<String>': () => `[${JSON.stringify(rng.pick(['a', 'b']))}]`,
        'Set<Long>': () => `[${rng.int(0, 5)}, ${rng.int(0, 5)}]`,
        ipaddr: () => `ip("${rng.pick(['10.0.0.1', '192.168.0.0/16', '::1'])}")`,
        decimal: () => `decimal("${rng.pick(['1.5', '0.25', '-3.0'])}")`,
        datetime: () => `datetime("${rng.pick(['2024-01-01', '2024-06-15T10:30:00Z'])}")`,
        duration: () => `duration("${rng.pick(['1h', '2d', '-30m'])}")`,
    };
    // A value of kind t (a schema type), built from variables where possible.
    function valueOf(t, env, depth) {
        if (t.k === 'ENTITY') return rng.chance(0.5) ? `${q(t.ety)}::"e${rng.int(0, 2)}"` : 'principal';
        if (t.k === 'REC') return `{x: ${lits.Long()}, y: ${lits.String()}}`;
        if (depth > 0 && t.k === 'Long' && rng.chance(0.3)) return `(${valueOf(t, env, depth - 1)} + 1)`;
        return lits[t.k]();
    }
    // An access to an attribute of principal/resource/context, guarded when optional.
    function access(env) {
        const who = rng.pick(['principal', 'resource', 'context']);
        let attrs;
        if (who === 'context') attrs = env.action ? env.action.context : {};
        else {
            const tn = who === 'principal' ? env.ptype : env.rtype;
            attrs = tn && ent(tn) ? ent(tn).attrs : (ent(rng.pick(S.ents).name) || {}).attrs || {};
        }
        const names = Object.keys(attrs);
        if (!names.length || rng.chance(0.05)) {
            const n = rng.pick(ATTR_NAMES);
            return { expr: `${who}.${n}`, guard: null, t: { k: 'Long' } };
        }
        const n = rng.pick(names);
        const t = attrs[n];
        return { expr: `${who}.${n}`, guard: t.opt && !bad() ? `${who} has ${n}` : null, t };
    }
    function cmp(env, depth) {
        const a = access(env);
        let body;
        switch (a.t.k) {
        case 'Long': body = `${a.expr} ${rng.pick(['<', '<=', '>', '>=', '==', '!='])} ${bad() ? lits.String() : valueOf(a.t, env, depth)}`; break;
        case 'String': body = rng.chance(0.5) ? `${a.expr} like "${rng.pick(['a*', '*', 'b?'])}"` : `${a.expr} == ${lits.String()}`; break;
        case 'Bool': body = rng.chance(0.5) ? a.expr : `!${a.expr}`; break;
        case 'Set<String>': body = rng.pick([`${a.expr}.contains(${bad() ? '1' : lits.String()})`, `${a.expr}.isEmpty()`,
            `${a.expr}.containsAny(${bad() ? '[]' : lits['Set<String>']()})`]); break;
        case 'Set<Long>': body = `${a.expr}.containsAll(${lits['Set<Long>']()})`; break;
        case 'ENTITY': body = rng.pick([`${a.expr} == ${valueOf(a.t, env, depth)}`, `${a.expr} in ${q(rng.pick(S.ents).name)}::"g"`,
            `principal in ${a.expr}`, `${a.expr} is ${q(rng.pick(S.ents).name)}`]); break;
        case 'REC': body = rng.pick([`${a.expr}.x > 1`, `${a.expr}.y == "s"`, `${a.expr} has y && ${a.expr}.y == "s"`,
            `${a.expr} == {x: 1, y: "s"}`, `${a.expr} == {x: 1}`, `[${a.expr}, {x: 2, y: "t"}].contains({x: 1, y: "s"})`]); break;
        case 'ipaddr': body = rng.pick([`${a.expr}.isInRange(${lits.ipaddr()})`, `${a.expr}.isLoopback()`]); break;
        case 'decimal': body = rng.pick([`${a.expr}.lessThan(${lits.decimal()})`, `${a.expr}.greaterThanOrEqual(${bad() ? lits.ipaddr() : lits.decimal()})`]); break;
        case 'datetime': body = rng.pick([`${a.expr} < ${lits.datetime()}`, `${a.expr}.offset(${lits.duration()}) > ${lits.datetime()}`,
            `${a.expr}.toDate() == ${lits.datetime()}`]); break;
        case 'duration': body = rng.pick([`${a.expr}.toHours() > 1`, `${a.expr} <= ${lits.duration()}`]); break;
        default: body = 'true';
        }
        return a.guard ? `(${a.guard} && ${body})` : body;
    }
    function tagExpr(env) {
        const tn = rng.pick([env.ptype, env.rtype].filter(Boolean)) || rng.pick(S.ents).name;
        const who = tn === env.ptype ? 'principal' : 'resource';
        const e = ent(tn);
        const k = JSON.stringify(rng.pick(['k', 'team']));
        const val = e && e.tags === 'Long' ? '1' : '"v"';
        if (bad()) return `${who}.getTag(${k}) == ${val}`;
        return rng.pick([`${who}.hasTag(${k})`, `(${who}.hasTag(${k}) && ${who}.getTag(${k}) == ${val})`]);
    }
    function mistake() {
        return rng.pick([
            '[1, "a"].contains(1)', '[].isEmpty()', '(if context has n then 1 else "a") == 1', `${q('Nope')}::"x" == principal`,
            `action == ${q('Action')}::"nope"`, 'ip("not an ip").isIpv4()', 'decimal(context.x).lessThan(decimal("1.0"))',
            '1 + true > 0', '"a" < "b"', '!1', '{a: 1} == {a: "x"}', 'principal.nosuch == 1', 'principal.getTag(1) == "x"',
            '[principal, resource].contains(principal)', `${q('Color')}::"green" == resource`, 'if true then 1 else "a"',
            '(context has n || false) && context.n > 1', '1 == "a"', 'principal == resource',
            'datetime("2024-01-01").toHours() > 1', 'context.src.isInRange(decimal("1.0"))',
            '(if context has n then {a: 1} else {a: 2, b: "y"}).a > 1', '(if context has n then {a: 1, b: "x"} else {a: 2, b: "y"}).a > 1',
            `action in [${q('Action')}::"a0", ${q('Action')}::"grp"]`, 'principal in [principal, resource]',
            '[resource, principal].contains(principal)', 'principal has "age" && principal["age"] > 1',
            `${q('Action')}::"a0" in ${q('Action')}::"grp"`, 'action.hasTag("k")', 'action has name', 'resource has name',
        ]);
    }
    function boolExpr(env, depth) {
        if (depth <= 0 || rng.chance(0.3)) {
            return rng.weighted([[6, () => cmp(env, 1)], [1, () => tagExpr(env)], [1, () => rng.pick(['true', 'false'])],
                [1, () => `principal in ${q(rng.pick(S.ents).name)}::"g"`], [bad() ? 8 : 0.4, mistake],
                [1, () => `resource is ${q(rng.pick(S.ents).name)}`]])();
        }
        return rng.weighted([
            [3, () => `(${boolExpr(env, depth - 1)} && ${boolExpr(env, depth - 1)})`],
            [2, () => `(${boolExpr(env, depth - 1)} || ${boolExpr(env, depth - 1)})`],
            [1, () => `!(${boolExpr(env, depth - 1)})`],
            [1, () => `(if ${boolExpr(env, depth - 1)} then ${boolExpr(env, depth - 1)} else ${boolExpr(env, depth - 1)})`],
        ])();
    }
    function policy() {
        const action = rng.chance(0.8) ? rng.pick(S.actions) : null;
        const env = { action };
        const eff = rng.pick(['permit', 'forbid']);
        let p = 'principal', a = 'action', r = 'resource';
        if (action) {
            a = rng.chance(0.7) ? `action == ${q('Action')}::"${action.name}"` :
                `action in [${q('Action')}::"${action.name}"${rng.chance(0.3) ? `, ${q('Action')}::"${rng.pick(S.actions).name}"` : ''}]`;
            if (S.hasGroup && rng.chance(0.1)) a = `action in ${q('Action')}::"grp"`;
            if (rng.chance(0.7)) {
                env.ptype = rng.chance(0.95) ? rng.pick(action.principals) : rng.pick(S.ents).name;
                p = rng.pick([`principal is ${q(env.ptype)}`, `principal == ${q(env.ptype)}::"u"`,
                    `principal is ${q(env.ptype)} in ${q(rng.pick(S.ents).name)}::"g"`]);
            }
            if (rng.chance(0.6)) {
                env.rtype = rng.pick(action.resources.filter((t) => t !== 'Color')) || null;
                if (env.rtype) r = rng.chance(0.5) ? `resource is ${q(env.rtype)}` : `resource in ${q(rng.pick(S.ents).name)}::"f"`;
                if (r.startsWith('resource in')) env.rtype = null;
            }
        } else if (rng.chance(0.3)) {
            p = `principal in ${q(rng.pick(S.ents).name)}::"g"`;
        }
        let text = `${eff}(${p}, ${a}, ${r})`;
        for (let i = rng.int(0, 2); i > 0; i--) text += ` ${rng.chance(0.8) ? 'when' : 'unless'} { ${boolExpr(env, rng.int(0, 3))} }`;
        return `${text};`;
    }
    return { policy };
}

// ---- the run

function writVerdict(writ, dir) {
    const r = spawnSync(writ, ['validate', '--schema', join(dir, 's.cedarschema'), '--policies', join(dir, 'p.cedar')],
        { encoding: 'utf8' });
    const m = /(\d+) policies, (\d+) errors, (\d+) warnings/.exec(r.stdout || '');
    if (r.error) throw new Error(`cannot run ${writ}: ${r.error.message}`);
    if (!m) return { verdict: 'reject', out: `${r.stdout}${r.stderr}` };
    return { verdict: Number(m[2]) ? 'invalid' : 'valid', out: r.stdout };
}

// The hand-written cases: each policy alone against the file's schema.
function handCases(writ, file, cedar) {
    const [schema, body] = readFileSync(file, 'utf8').split(/^%%$/m);
    const dir = mkdtempSync(join(tmpdir(), 'writ-validate-'));
    let bad = 0, n = 0;
    for (const pol of body.split('\n').filter((l) => l.trim())) {
        n++;
        const res = cedar.validate({ schema, policies: { staticPolicies: pol }, validationSettings: { mode: 'strict' } });
        const ref = res.type !== 'success' ? 'reject' : res.validationErrors.length ? 'invalid' : 'valid';
        writeFileSync(join(dir, 's.cedarschema'), schema);
        writeFileSync(join(dir, 'p.cedar'), pol);
        const got = writVerdict(writ, dir);
        if (got.verdict !== ref) {
            bad++;
            console.log(`DIFF: cedar-wasm ${ref} | writ ${got.verdict}: ${pol}\n${got.out.replace(/^/gm, '    writ: ')}`);
        }
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(`validate (hand-written): ${n - bad} agree, ${bad} disagree`);
    process.exitCode = bad ? 1 : 0;
}

function main() {
    const args = process.argv.slice(2);
    const writ = args[0];
    if (!writ) throw new Error('usage: validate.mjs WRIT_BIN [--seed S] [--count N] [--verbose] [--keep DIR]');
    const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
    const seed = opt('--seed', '1');
    const count = Number(opt('--count', '300'));
    const first = Number(opt('--first', '0'));
    const keep = opt('--keep', null);
    const verbose = args.includes('--verbose');
    const cedar = loadCedar();
    if (opt('--cases', null)) return handCases(writ, opt('--cases', null), cedar);
    const dir = mkdtempSync(join(tmpdir(), 'writ-validate-'));
    let bad = 0, valid = 0, invalid = 0, rejected = 0;
    for (let k = first; k < first + count; k++) {
        const rng = makeRng(`${seed}/validate/${k}`);
        const S = genSchema(rng);
        const G = makePolicyGen(rng, S);
        const schema = schemaText(S);
        let pols = '';
        for (let i = rng.int(1, 3); i > 0; i--) pols += `${G.policy()}\n`;
        const res = cedar.validate({ schema, policies: { staticPolicies: pols }, validationSettings: { mode: 'strict' } });
        let ref;
        if (res.type !== 'success') {
            ref = 'reject';
            rejected++;
        } else {
            ref = res.validationErrors.length ? 'invalid' : 'valid';
            if (ref === 'valid') valid++;
            else invalid++;
        }
        writeFileSync(join(dir, 's.cedarschema'), schema);
        writeFileSync(join(dir, 'p.cedar'), pols);
        const got = writVerdict(writ, dir);
        if (got.verdict !== ref) {
            bad++;
            const why = res.type === 'success' ? res.validationErrors.map((e) => e.error.message).join('; ') :
                res.errors.map((e) => e.message).join('; ');
            console.log(`DIFF case ${k}: cedar-wasm ${ref} (${why.slice(0, 300)}) | writ ${got.verdict}\n` +
                `${got.out.replace(/^/gm, '    writ: ')}\n${schema.replace(/^/gm, '    schema: ')}\n${pols.replace(/^/gm, '    policy: ')}`);
            if (keep) {
                mkdirSync(keep, { recursive: true });
                writeFileSync(join(keep, `case-${k}.cedarschema`), schema);
                writeFileSync(join(keep, `case-${k}.cedar`), pols);
            }
        } else if (verbose) {
            console.log(`case ${k}: ${ref}`);
        }
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(`validate: ${count - bad} agree, ${bad} disagree (reference: ${valid} valid, ${invalid} invalid, ` +
        `${rejected} rejected)`);
    process.exitCode = bad ? 1 : 0;
}

main();
