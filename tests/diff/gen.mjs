#!/usr/bin/env node
// gen.mjs - random Cedar cases answered by the reference engine, written as conformance tests.
//
//   node tests/diff/gen.mjs --seed S --count N --out DIR [--prefix P]
//
// Each case is a random entity graph (namespaced types, odd ids, parents, attributes of
// every value type, tags), a random policy set using every construct of the language,
// and a few requests.  cedar-wasm decides each request; the answer (decision, reason
// ids, error ids) is written in the format of /work/shared/conformance/cedar/README.md:
// DIR/P-K.json (the test), DIR/P-K.cedar, DIR/P-K.entities.json.  Paths in the test are
// relative to DIR (run with --root DIR).  There is no schema: the expected answers are
// the reference's answers without one.
//
// The expression generator is typed (it mostly builds well-typed expressions so that
// policies do decide) but on purpose leaves room for errors: wrong-typed operands,
// missing attributes, overflow, bad extension literals, errors behind && / || / if.
// Case K depends only on (S, K), so a failing case is regenerated alone.

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRng } from '../../bench/prng.mjs';
import { loadCedar } from '../../bench/cedar_peer.mjs';

function parseArgs(argv) {
    const o = { seed: '1', count: 10, out: null, prefix: null, first: 0 };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--seed') o.seed = argv[++i];
        else if (a === '--count') o.count = Number(argv[++i]);
        else if (a === '--first') o.first = Number(argv[++i]);
        else if (a === '--out') o.out = argv[++i];
        else if (a === '--prefix') o.prefix = argv[++i];
        else throw new Error(`unknown argument ${a}`);
    }
    if (!o.out) throw new Error('--out DIR is required');
    o.prefix ||= `diff-${o.seed}`;
    return o;
}

// ---- the vocabulary

const TYPES = ['User', 'Group', 'Doc', 'NS::Folder', 'A::B::Thing'];
const IDS = ['alice', 'bob', 'carol', '', 'with "quote"', 'ünïcødé', 'back\\slash', 'two words', 'tab\there', '*', '0', 'nul\u0000id'];
const ACTIONS = ['a0', 'a1', 'a2'];
const ACTION_GROUP = 'grp';
const TAG_KEYS = ['t1', 't2', 'odd key', ''];

// Attribute pool: name -> type.  The same name has the same type in most places, so
// expressions usually type-check; data of the wrong type shows up now and then.
const ATTRS = {
    age: 'L', level: 'L', name: 'S', role: 'S', 'weird key': 'S', if: 'S', flag: 'B',
    tags: 'SETS', nums: 'SETL', ents: 'SETE', info: 'REC', owner: 'E', addr: 'IP',
    amount: 'DEC', when: 'DT', ttl: 'DUR', 'nul\u0000key': 'S',
};
const ATTR_NAMES = Object.keys(ATTRS);
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', '__cedar']);

const IP_LITS = ['10.0.0.1', '192.168.1.0/24', '127.0.0.1', '::1', 'fe80::/10', '224.0.0.1', '255.255.255.255',
    '10.0.0.0/8', '2001:db8::1', '::ffff:10.0.0.1', '1.2.3', '10.0.0.1/33', '0.0.0.0/0'];
const DEC_LITS = ['0.0', '1.5', '-1.5', '12.3456', '922337203685477.5807', '-922337203685477.5808', '1.23456', '.5',
    '3', '100.00', '0.0001'];
const DT_LITS = ['2024-01-01', '2024-02-29T12:00:00Z', '2024-06-15T10:30:00.123Z', '2024-06-15T10:30:00+0200',
    '1970-01-01', '1969-12-31T23:59:59Z', '2024-13-01', '2024-06-15T25:00:00Z', '9999-12-31T23:59:59.999Z',
    '2024-06-15T10:30:00-1130'];
const DUR_LITS = ['1d', '2h30m', '-1h', '1d2h3m4s5ms', '0ms', '90s', '1h-30m', '', '1y', '9223372036854775807ms',
    '-9223372036854775808ms'];
const LONG_EDGE = ['9223372036854775807', '-9223372036854775808', '4611686018427387904', '3037000500',
    '-3037000500', '0', '1', '-1', '2'];

// ---- printing

// A Cedar string literal.
function str(s) {
    let out = '"';
    for (const ch of s) {
        const c = ch.codePointAt(0);
        if (ch === '"') out += '\\"';
        else if (ch === '\\') out += '\\\\';
        else if (ch === '\n') out += '\\n';
        else if (ch === '\t') out += '\\t';
        else if (ch === '\r') out += '\\r';
        else if (c === 0) out += '\\0';
        else if (c < 0x20 || c > 0x7e) out += `\\u{${c.toString(16)}}`;
        else out += ch;
    }
    return out + '"';
}

function entLit(u) { return `${u.type}::${str(u.id)}`; }
function isIdent(s) { return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !RESERVED.has(s); }
function access(e, attr) { return isIdent(attr) ? `${e}.${attr}` : `${e}[${str(attr)}]`; }
function hasExpr(e, attr) { return isIdent(attr) ? `${e} has ${attr}` : `${e} has ${str(attr)}`; }

// ---- random data

export function makeGen(rng) {
    const G = {};
    const uidOf = () => ({ type: rng.pick(TYPES), id: rng.pick(IDS) });

    // A JSON value of type t for entity data / context.
    G.jsonValue = (t, entities, depth = 0) => {
        switch (t) {
        case 'L': return rng.weighted([[6, () => rng.int(-5, 20)], [1, () => rng.int(-9007199254740991, 9007199254740991)]])();
        case 'S': return rng.weighted([[5, () => rng.pick(['alice', 'bob', 'admin', 'x*y', '', 'ünï'])], [1, () => rng.pick(IDS)]])();
        case 'B': return rng.chance(0.5);
        case 'SETS': return rng.sample(['a', 'b', 'c', 'admin', ''], rng.int(0, 3));
        case 'SETL': return rng.sample([0, 1, 2, 3, -1, 42], rng.int(0, 3));
        case 'SETE': return rng.sample(entities, rng.int(0, 2)).map((u) => ({ __entity: u }));
        case 'REC': {
            const r = { a: rng.int(0, 5), b: rng.pick(['x', 'y']) };
            if (depth < 2 && rng.chance(0.6)) r.c = { d: rng.chance(0.5) };
            return r;
        }
        case 'E': return { __entity: rng.chance(0.85) && entities.length ? rng.pick(entities) : uidOf() };
        case 'IP': return { __extn: { fn: 'ip', arg: rng.pick(IP_LITS.slice(0, 9)) } };
        case 'DEC': return { __extn: { fn: 'decimal', arg: rng.pick(DEC_LITS.slice(0, 6)) } };
        case 'DT': return { __extn: { fn: 'datetime', arg: rng.pick(DT_LITS.slice(0, 6)) } };
        case 'DUR': return { __extn: { fn: 'duration', arg: rng.pick(DUR_LITS.slice(0, 6)) } };
        default: throw new Error(t);
        }
    };
    const anyType = () => rng.pick(['L', 'S', 'B', 'SETS', 'SETL', 'SETE', 'REC', 'E', 'IP', 'DEC', 'DT', 'DUR']);

    G.attrs = (entities, p) => {
        const a = {};
        for (const name of ATTR_NAMES) {
            if (!rng.chance(p)) continue;
            const t = rng.chance(0.08) ? anyType() : ATTRS[name];
            a[name] = G.jsonValue(t, entities);
        }
        return a;
    };

    G.world = () => {
        const n = G.scale ? rng.int(8, 20) : rng.int(3, 9);
        const uids = [];
        const seen = new Set();
        while (uids.length < n) {
            const u = uidOf();
            const k = `${u.type}::${u.id}`;
            if (!seen.has(k)) { seen.add(k); uids.push(u); }
        }
        const ents = [];
        const ghosts = [];   // parents that are not entities of the store
        for (let i = 0; i < uids.length; i++) {
            // a DAG (the reference rejects cycles), sometimes with a parent not in the store
            const parents = i ? rng.sample(uids.slice(0, i), rng.int(0, 2)) : [];
            if (rng.chance(G.scale ? 0.15 : 0.08)) { const g = { type: rng.pick(TYPES), id: `ghost${rng.int(0, 2)}` }; ghosts.push(g); parents.push(g); }
            const e = { uid: uids[i], attrs: G.attrs(uids, 0.35), parents };
            if (rng.chance(0.4)) {
                e.tags = {};
                for (const k of rng.sample(TAG_KEYS, rng.int(1, 3))) e.tags[k] = G.jsonValue(anyType(), uids);
            }
            ents.push(e);
        }
        ents.push({ uid: { type: 'Action', id: ACTION_GROUP }, attrs: {}, parents: [] });
        for (const a of ACTIONS) {
            ents.push({ uid: { type: 'Action', id: a }, attrs: rng.chance(0.3) ? G.attrs(uids, 0.3) : {},
                parents: rng.chance(0.6) ? [{ type: 'Action', id: ACTION_GROUP }] : [] });
        }
        return { uids, ents, ghosts };
    };

    G.request = (W) => {
        const pickU = () => rng.weighted([[17, () => rng.pick(W.uids)], [2, uidOf],
            [1, () => ({ type: 'Action', id: rng.pick([...ACTIONS, ACTION_GROUP]) })]])();
        const ctx = G.attrs(W.uids, 0.4);
        if (rng.chance(0.2)) ctx.extra = G.jsonValue(anyType(), W.uids);
        return {
            principal: pickU(),
            action: { type: 'Action', id: rng.pick([...ACTIONS, ACTIONS[0], ACTION_GROUP]) },
            resource: pickU(),
            context: ctx,
        };
    };

    // ---- expressions.  gen(t, d) returns Cedar text of type t (mostly).

    const VARS_E = ['principal', 'resource', 'action'];
    const entityExpr = (d) => rng.weighted([
        [5, () => rng.pick(VARS_E)],
        [3, () => entLit(rng.chance(0.8) ? rng.pick(G.W.uids) : uidOf())],
        [1, () => `${entLit({ type: 'Action', id: rng.pick([...ACTIONS, ACTION_GROUP]) })}`],
        [2, () => access(G.gen('E0', d), 'owner')],
        [1, () => access('context', 'owner')],
    ])();
    // something with attributes: an entity or a record
    const holder = (d) => rng.weighted([[5, () => entityExpr(d + 1)], [2, () => 'context'],
        [1, () => `${access('principal', 'info')}`], [1, () => G.gen('REC', d + 1)]])();

    // An attribute of type t, read from something that may have it.
    const attrOf = (t, d) => {
        const names = ATTR_NAMES.filter((n) => ATTRS[n] === t);
        if (!names.length) return null;
        const name = rng.pick(names);
        const h = holder(d);
        const e = access(h, name);
        return rng.chance(0.3) ? `(if ${hasExpr(h, name)} then ${e} else ${G.lit(t)})` : e;
    };

    G.lit = (t) => {
        switch (t) {
        case 'B': return rng.pick(['true', 'false']);
        case 'L': return rng.chance(0.8) ? String(rng.int(-3, 10)) : rng.pick(LONG_EDGE);
        case 'S': return str(rng.pick(['alice', 'admin', '', 'a"b', 'ünï', 'x*y', 'tab\t', 'b']));
        case 'E': case 'E0': return entLit(rng.pick(G.W.uids));
        case 'SETS': return `[${rng.sample(['"a"', '"b"', '"admin"', '""'], rng.int(0, 3)).join(', ')}]`;
        case 'SETL': return `[${rng.sample(['0', '1', '2', '-1', '42'], rng.int(0, 3)).join(', ')}]`;
        case 'SETE': return `[${rng.sample(G.W.uids, rng.int(0, 2)).map(entLit).join(', ')}]`;
        case 'REC': return `{a: ${rng.int(0, 5)}, "b": ${str(rng.pick(['x', 'y']))}}`;
        case 'IP': return `ip(${str(rng.pick(IP_LITS))})`;
        case 'DEC': return `decimal(${str(rng.pick(DEC_LITS))})`;
        case 'DT': return `datetime(${str(rng.pick(DT_LITS))})`;
        case 'DUR': return `duration(${str(rng.pick(DUR_LITS))})`;
        default: throw new Error(t);
        }
    };

    // A like pattern, already in Cedar syntax: `*` is the wildcard, `\*` a star.
    const likePattern = () => {
        const parts = ['a', 'b', '*', '\\*', ' ', '\\u{fc}', 'admin', '\\"', '\\\\', 'x', '\\t'];
        let p = '';
        for (let i = rng.int(0, 4); i > 0; i--) p += rng.pick(parts);
        return `"${p}"`;
    };

    const SET_T = ['SETS', 'SETL', 'SETE'];
    const elemOf = { SETS: 'S', SETL: 'L', SETE: 'E' };
    const anyExprType = () => rng.pick(['L', 'S', 'B', 'E', 'SETS', 'SETL', 'REC', 'IP', 'DEC', 'DT', 'DUR']);

    G.gen = (t, d) => {
        if (t === 'E0') t = 'E';
        // leaves when deep
        if (d > 4) {
            if (t === 'E') return rng.pick(VARS_E);
            if (rng.chance(0.5)) { const a = attrOf(t, 9); if (a) return a; }
            return G.lit(t);
        }
        // now and then, the wrong type on purpose
        if (rng.chance(0.04)) return G.gen(anyExprType(), d + 1);
        const common = [
            [4, () => G.lit(t)],
            [3, () => attrOf(t, d) || G.lit(t)],
            [1, () => `(if ${G.gen('B', d + 1)} then ${G.gen(t, d + 1)} else ${G.gen(t, d + 1)})`],
            [0.5, () => `${entityExpr(d + 1)}.getTag(${str(rng.pick(TAG_KEYS))})`],
        ];
        const own = {
            B: [
                [2, () => `!(${G.gen('B', d + 1)})`],
                [3, () => `(${G.gen('B', d + 1)} && ${G.gen('B', d + 1)})`],
                [3, () => `(${G.gen('B', d + 1)} || ${G.gen('B', d + 1)})`],
                [3, () => { const u = anyExprType(); return `(${G.gen(u, d + 1)} ${rng.pick(['==', '!='])} ${G.gen(rng.chance(0.8) ? u : anyExprType(), d + 1)})`; }],
                [3, () => { const u = rng.weighted([[4, 'L'], [1, 'DT'], [1, 'DUR'], [0.3, 'DEC']]); return `(${G.gen(u, d + 1)} ${rng.pick(['<', '<=', '>', '>='])} ${G.gen(u, d + 1)})`; }],
                [3, () => `(${G.gen('E', d + 1)} in ${G.gen('E', d + 1)})`],
                [1, () => `(${G.gen('E', d + 1)} in ${G.gen('SETE', d + 1)})`],
                [3, () => `(${hasExpr(holder(d), rng.pick([...ATTR_NAMES, 'nope']))})`],
                [1, () => `(${holder(d)} has info.c.d)`],
                [2, () => `(${G.gen('S', d + 1)} like ${likePattern()})`],
                [2, () => `(${G.gen('E', d + 1)} is ${rng.pick([...TYPES, 'Action', 'Other'])})`],
                [1, () => `(${G.gen('E', d + 1)} is ${rng.pick(TYPES)} in ${G.gen(rng.chance(0.7) ? 'E' : 'SETE', d + 1)})`],
                [3, () => { const s = rng.pick(SET_T); return `${G.gen(s, d + 1)}.contains(${G.gen(elemOf[s], d + 1)})`; }],
                [2, () => { const s = rng.pick(SET_T); return `${G.gen(s, d + 1)}.${rng.pick(['containsAll', 'containsAny'])}(${G.gen(s, d + 1)})`; }],
                [1, () => `${G.gen(rng.pick(SET_T), d + 1)}.isEmpty()`],
                [1, () => `${G.gen('E', d + 1)}.hasTag(${G.gen('S', d + 1)})`],
                [2, () => `${G.gen('IP', d + 1)}.${rng.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}()`],
                [2, () => `${G.gen('IP', d + 1)}.isInRange(${G.gen('IP', d + 1)})`],
                [2, () => `${G.gen('DEC', d + 1)}.${rng.pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'])}(${G.gen('DEC', d + 1)})`],
                [2, () => `(${G.tricky()})`],
                // errors where short-circuiting must hide them (or not)
                [1, () => `(${rng.pick(['false &&', 'true ||'])} ${G.err()})`],
                [1, () => `(${G.gen('B', d + 1)} ${rng.pick(['&&', '||'])} ${G.err()})`],
                [1, () => `(if ${G.gen('B', d + 1)} then ${G.gen('B', d + 1)} else ${G.err()})`],
            ],
            L: [
                [3, () => `(${G.gen('L', d + 1)} ${rng.pick(['+', '-', '*'])} ${G.gen('L', d + 1)})`],
                [1, () => `-${rng.chance(0.5) ? '(' + G.gen('L', d + 1) + ')' : G.lit('L')}`],
                [1, () => `(${rng.pick(LONG_EDGE)} ${rng.pick(['+', '-', '*'])} ${rng.pick(LONG_EDGE)})`],
                [1, () => `${G.gen('DUR', d + 1)}.${rng.pick(['toMilliseconds', 'toSeconds', 'toMinutes', 'toHours', 'toDays'])}()`],
            ],
            S: [],
            E: [[3, () => entityExpr(d)]],
            SETS: [[1, () => `[${G.gen('S', d + 1)}, ${G.gen('S', d + 1)}]`]],
            SETL: [[1, () => `[${G.gen('L', d + 1)}, ${G.gen('L', d + 1)}]`]],
            SETE: [[1, () => `[${G.gen('E', d + 1)}, ${G.lit('E')}]`], [1, () => `[${G.gen('E', d + 1)}, ${G.gen('L', d + 1)}]`]],
            REC: [[1, () => `{a: ${G.gen('L', d + 1)}, b: ${G.gen('S', d + 1)}, c: {d: ${G.gen('B', d + 1)}}}`], [1, () => 'context']],
            IP: [[1, () => `ip(${G.gen('S', d + 1)})`]],
            DEC: [[1, () => `decimal(${G.gen('S', d + 1)})`]],
            DT: [
                [2, () => `${G.gen('DT', d + 1)}.offset(${G.gen('DUR', d + 1)})`],
                [1, () => `${G.gen('DT', d + 1)}.toDate()`],
            ],
            DUR: [
                [2, () => `${G.gen('DT', d + 1)}.durationSince(${G.gen('DT', d + 1)})`],
                [1, () => `${G.gen('DT', d + 1)}.toTime()`],
            ],
        }[t];
        return rng.weighted([...common, ...own].map((c) => [c[0], c[1]]))();
    };

    // Hand-picked corners: canonical forms of extension values, set and record equality,
    // mixed-type equality, Unicode, 64-bit edges, datetime arithmetic at the limits.
    G.tricky = () => rng.pick([
        'ip("10.0.0.1") == ip("10.0.0.1/32")', 'ip("::1") == ip("0:0::1")', 'ip("10.0.0.1/8").isInRange(ip("10.0.0.0/8"))',
        'ip("10.0.0.0/8").isInRange(ip("10.0.0.1/8"))', 'ip("::ffff:0:0/96").isIpv6()', 'ip("127.0.0.0/8").isLoopback()',
        'ip("127.255.0.1").isLoopback()', 'ip("::1/128").isLoopback()', 'ip("ff02::1").isMulticast()',
        'ip("10.0.0.1").isInRange(ip("::/0"))', 'ip("0.0.0.0/0").isInRange(ip("0.0.0.0/0"))',
        'decimal("1.50") == decimal("1.5")', 'decimal("-0.0") == decimal("0.0")',
        'decimal("922337203685477.5807").greaterThan(decimal("-922337203685477.5808"))',
        'datetime("2024-01-01") == datetime("2024-01-01T00:00:00Z")',
        'datetime("2024-01-01T01:00:00+0100") == datetime("2024-01-01")',
        'datetime("2024-01-01T00:00:00.000Z") == datetime("2024-01-01")', 'duration("1h") == duration("60m")',
        'duration("1d") == duration("24h")', 'datetime("1969-12-31").toDate() == datetime("1969-12-31")',
        'datetime("1969-12-31T12:00:00Z").toDate() < datetime("1969-12-31T12:00:00Z")',
        'datetime("1969-12-31T12:00:00Z").toTime() == duration("12h")',
        'datetime("2024-01-01").offset(duration("9223372036854775807ms")) > datetime("2024-01-01")',
        'datetime("1970-01-01").durationSince(datetime("2024-01-01")) < duration("0ms")',
        'duration("-9223372036854775808ms").toDays() < 0', 'duration("1d") < duration("25h")',
        '[1, 1] == [1]', '[1, 2] == [2, 1]', '{a: 1, b: 2} == {b: 2, a: 1}', '{a: 1} == {a: 1, b: 2}', '[] == {}',
        '1 == "1"', 'User::"a" == Doc::"a"', 'NS::Folder::"a" == NS::Folder::"a"', 'A::B::Thing::"" in A::B::Thing::""',
        '"\\u{e9}" == "e\\u{301}"', '"\u{e9}" == "e\u{301}"', '"\\u{e9}" like "?"', '"e\\u{301}" like "e*"',
        '"" like ""', '"" like "*"', '"*" like "\\*"', '"a*b" like "a\\**"', '"\\\\" like "\\\\"',
        '"\\n" like "*"', '"\n" like "?"', '"\\t\\r\\0\\\'" like "*\\0*"', '"\\u{1F600}" like "\\u{1f600}"',
        '[User::"alice", Doc::"alice"].contains(User::"alice")', '[[1], [2]].contains([1])', '[{a: 1}].contains({a: 1})',
        '[1, "a", true].containsAll([true, 1])', '[].containsAny([])', '[ip("10.0.0.1")].contains(ip("10.0.0.1/32"))',
        '[decimal("1.0")].contains(decimal("1.00"))', '-9223372036854775808 < 9223372036854775807',
        '(-9223372036854775807 - 1) == -9223372036854775808', '-(-9223372036854775807) == 9223372036854775807',
        '9223372036854775807 * 0 == 0', '(3037000500 * 3037000500) > 0', '(-3037000499 * 3037000499) < 0',
        'principal in principal', 'action in action', 'principal is User in principal',
        'context == context', 'principal == principal.owner', '{"": 1} has ""', 'context has ""',
        '(if true then 1 else "a") == 1', '(if false then 1 else "a") == "a"',
    ]);

    // An expression that always raises an error.
    G.err = () => rng.pick([
        '(1 + "a")', '(9223372036854775807 + 1 == 0)', 'principal.no_such_attr', '(-9223372036854775808 * -1 > 0)',
        'decimal("bad")', 'ip("nope").isIpv4()', '{a: 1}.b', '("a" < "b")', 'Doc::"zz".age', 'context.missing',
        'datetime("2024-99-99") < datetime("2024-01-01")', '[1].contains(1 - 9223372036854775807 - 3)',
    ]);

    const scopeVar = (v) => rng.weighted([
        [G.scale ? 1 : 6, () => v],
        [2, () => `${v} == ${entLit(rng.chance(0.85) ? rng.pick(G.W.uids) : uidOf())}`],
        [2, () => `${v} in ${entLit(rng.pick(G.W.ghosts.length && rng.chance(0.2) ? G.W.ghosts : G.W.uids))}`],
        [1, () => `${v} is ${rng.pick(TYPES)}`],
        [1, () => `${v} is ${rng.pick(TYPES)} in ${entLit(rng.pick(G.W.uids))}`],
    ])();
    const scopeAction = () => rng.weighted([
        [G.scale ? 1 : 5, () => 'action'],
        [2, () => `action == Action::${str(rng.pick(ACTIONS))}`],
        [1, () => `action in Action::${str(rng.pick([...ACTIONS, ACTION_GROUP]))}`],
        [2, () => `action in [${rng.sample([...ACTIONS, ACTION_GROUP], rng.int(1, 3)).map((a) => `Action::${str(a)}`).join(', ')}]`],
    ])();

    G.policy = () => {
        const ann = rng.chance(0.15) ? `@id(${str(`p${rng.int(0, 99)}`)})\n` : '';
        let s = `${ann}${rng.chance(0.8) ? 'permit' : 'forbid'} (${scopeVar('principal')}, ${scopeAction()}, ${scopeVar('resource')})`;
        const nc = G.scale ? rng.weighted([[3, 0], [2, 1]]) : rng.weighted([[3, 0], [5, 1], [2, 2], [1, 3]]);
        for (let c = nc; c > 0; c--) {
            s += ` ${rng.chance(0.75) ? 'when' : 'unless'} { ${G.gen('B', 0)} }`;
        }
        return s + ';';
    };
    return G;
}

// ---- one case

function makeCase(cedar, seed, k) {
    for (let attempt = 0; attempt < 50; attempt++) {
        const rng = makeRng(`${seed}/${k}/${attempt}`);
        const G = makeGen(rng);
        // a quarter of the cases are large: many scoped policies over a bigger graph,
        // which exercises the scope index rather than the evaluator
        G.scale = rng.chance(0.25);
        G.W = G.world();
        const npol = G.scale ? rng.int(10, 40) : rng.int(1, 6);
        const policies = [];
        for (let i = 0; i < npol; i++) policies.push(G.policy());
        const text = policies.join('\n') + '\n';
        const parsed = cedar.checkParsePolicySet({ staticPolicies: text });
        if (parsed.type !== "success") { if (process.env.DIFF_DEBUG) process.stderr.write(parsed.errors.map((e) => e.message).join("; ") + "\n"); continue; }
        const entities = G.W.ents;
        const nreq = G.scale ? rng.int(5, 10) : rng.int(2, 5);
        const requests = [];
        let ok = true;
        for (let r = 0; r < nreq && ok; r++) {
            const q = G.request(G.W);
            const a = cedar.isAuthorized({ ...q, policies: { staticPolicies: text }, entities });
            if (a.type !== "success") { if (process.env.DIFF_DEBUG) process.stderr.write(a.errors.map((e) => e.message).join("; ") + "\n"); ok = false; break; }
            requests.push({
                description: `Request ${r}`,
                ...q,
                validateRequest: false,
                decision: a.response.decision,
                reason: a.response.diagnostics.reason.slice().sort(),
                errors: a.response.diagnostics.errors.map((e) => e.policyId).sort(),
            });
        }
        if (ok) return { text, entities, requests, attempt };
    }
    throw new Error(`case ${k}: no valid case in 50 attempts`);
}

function main() {
    const o = parseArgs(process.argv);
    const cedar = loadCedar();
    mkdirSync(o.out, { recursive: true });
    let retries = 0;
    const stats = { allow: 0, deny: 0, withErrors: 0 };
    for (let k = o.first; k < o.first + o.count; k++) {
        const c = makeCase(cedar, o.seed, k);
        retries += c.attempt;
        const base = `${o.prefix}-${k}`;
        writeFileSync(join(o.out, `${base}.cedar`), c.text);
        writeFileSync(join(o.out, `${base}.entities.json`), JSON.stringify(c.entities, null, 1) + '\n');
        const test = {
            policies: `${base}.cedar`,
            entities: `${base}.entities.json`,
            shouldValidate: false,
            requests: c.requests,
        };
        writeFileSync(join(o.out, `${base}.json`), JSON.stringify(test, null, 1) + '\n');
        for (const r of c.requests) {
            stats[r.decision]++;
            if (r.errors.length) stats.withErrors++;
        }
    }
    process.stderr.write(`gen: ${o.count} cases (seed ${o.seed}) -> ${o.out}: ${stats.allow} allow, ${stats.deny} deny, ` +
        `${stats.withErrors} with errors; ${retries} regenerated after parse errors\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
