#!/usr/bin/env node
// gen_agents.mjs - deterministic generator of an AI-agent authorization workload.
//
//   node bench/gen_agents.mjs --policies N [--requests R] [--seed S] [--no-datetime]
//                             [--global-max G] --out DIR
//
// Writes DIR/policies.cedar, DIR/entities.json and DIR/requests.json (a JSON
// array of {principal, action, resource, context}).  Same arguments, same bytes.
//
// The shape follows what an agent platform looks like: agents (principals) belong to a
// team and to groups, groups nest; tools, datasets, repos and tickets (resources) live in
// projects, projects nest; actions are grouped (readOnly, mutating, financial).  Most
// policies are scoped to one agent, group, team, project or resource, so only a few apply
// to any request; conditions use like, ip ranges, decimals, has, sets, if-then-else and
// hierarchy membership.  About half of the requests are aimed at a permit policy's scope
// so that the mix holds allows as well as denies.
//
// Global rules - no principal and no resource entity in the scope, e.g.
// `permit(principal, action == Action::"read", resource is Dataset)` - are guardrails:
// a platform has a handful of them whatever its number of agents, so at most
// --global-max (default 12) are generated; past that, a principal-free policy names a
// project or a resource.  (The first version let them grow with the set - 3.4 % of the
// policies, 340 at 10,000 - and then about 17 of them applied to every request; pass
// --global-max -1 to generate that workload.)

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeRng } from './prng.mjs';

function parseArgs(argv) {
    const o = { policies: 100, requests: 300, seed: 'writ-agents', datetime: true, out: null, globalMax: 12 };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--policies') o.policies = Number(argv[++i]);
        else if (a === '--requests') o.requests = Number(argv[++i]);
        else if (a === '--seed') o.seed = argv[++i];
        else if (a === '--no-datetime') o.datetime = false;
        else if (a === '--out') o.out = argv[++i];
        else if (a === '--global-max') o.globalMax = Number(argv[++i]);
        else throw new Error(`unknown argument ${a}`);
    }
    if (!o.out) throw new Error('--out DIR is required');
    return o;
}

const ACTIONS = ['read', 'list', 'comment', 'write', 'delete', 'deploy', 'approve', 'invoke', 'export', 'admin'];
const ACTION_GROUPS = {
    readOnly: ['read', 'list', 'comment'],
    mutating: ['write', 'delete', 'deploy'],
    financial: ['approve', 'export'],
};
// Which actions make sense on which resource kind.
const KIND_ACTIONS = {
    Tool: ['invoke', 'read', 'admin'],
    Dataset: ['read', 'list', 'export', 'write', 'delete'],
    Repo: ['read', 'write', 'deploy', 'approve', 'comment'],
    Ticket: ['read', 'comment', 'write', 'approve'],
};
const KINDS = Object.keys(KIND_ACTIONS);
const ROLES = ['assistant', 'coder', 'analyst', 'ops', 'finance', 'support'];
const TAGS = ['ml', 'web', 'billing', 'infra', 'security', 'research', 'eu', 'us', 'internal', 'customer'];
const CLEARANCES = ['pii', 'finance', 'prod', 'secrets', 'legal'];
const PURPOSES = ['support ticket triage', 'support escalation', 'code review', 'code generation', 'deploy hotfix',
    'deploy release', 'data analysis', 'data export', 'billing reconciliation', 'billing refund', 'security audit',
    'incident response'];
const DESTINATIONS = ['api.internal.example.com', 'db.internal.example.com', 'hooks.slack.com', 's3.amazonaws.com',
    'api.github.com', 'pastebin.com', 'exfil.evil.example.net', 'reports.partner.example.org'];
const REGIONS = ['us', 'eu', 'ap', 'sa'];
const MODELS = ['claude-3', 'gpt-4o', 'llama-3-70b', 'mistral-large', 'internal-7b'];

function uid(type, id) { return { type, id }; }
function lit(e) { return `${e.type}::${JSON.stringify(e.id)}`; }
function key(e) { return `${e.type}::${e.id}`; }
function decimalStr(rng, lo, hi) {
    const v = rng.int(lo * 100, hi * 100);
    return `${Math.floor(v / 100)}.${String(v % 100).padStart(2, '0')}`;
}
function extn(fn, arg) { return { __extn: { fn, arg } }; }

// ---- entities

function buildWorld(rng, n) {
    const W = {
        nAgents: Math.max(16, Math.floor(n / 4)),
        nGroups: Math.max(6, Math.floor(n / 25)),
        nTeams: Math.max(4, Math.floor(n / 100)),
        nProjects: Math.max(5, Math.floor(n / 20)),
        nPerKind: Math.max(10, Math.floor(n / 8)),
        entities: [],
        byKey: new Map(),
        agents: [], groups: [], teams: [], projects: [], resources: {},
    };
    const add = (e, attrs, parents) => {
        const ent = { uid: e, attrs, parents };
        W.entities.push(ent);
        W.byKey.set(key(e), ent);
        return ent;
    };
    // actions and their groups
    for (const g of Object.keys(ACTION_GROUPS)) add(uid('Action', g), {}, []);
    for (const a of ACTIONS) {
        const parents = Object.entries(ACTION_GROUPS).filter(([, m]) => m.includes(a)).map(([g]) => uid('Action', g));
        add(uid('Action', a), {}, parents);
    }
    for (let i = 0; i < W.nTeams; i++) {
        W.teams.push(uid('Team', `team-${i}`));
        add(W.teams[i], { name: `team-${i}`, cost_center: rng.int(1000, 9999) }, [uid('Org', 'acme')]);
    }
    add(uid('Org', 'acme'), { name: 'Acme' }, []);
    // groups: the first sixth are roots, every other group sits in an earlier one
    for (let i = 0; i < W.nGroups; i++) {
        W.groups.push(uid('Group', `grp-${i}`));
        const parents = [];
        if (i >= Math.ceil(W.nGroups / 6)) parents.push(W.groups[rng.int(0, i - 1)]);
        add(W.groups[i], { level: rng.int(1, 5) }, parents);
    }
    for (let i = 0; i < W.nProjects; i++) {
        W.projects.push(uid('Project', `proj-${i}`));
        const parents = [];
        if (i >= 3 && rng.chance(0.4)) parents.push(W.projects[rng.int(0, i - 1)]);
        add(W.projects[i], { region: rng.pick(REGIONS), tags: rng.sample(TAGS, rng.int(1, 3)) }, parents);
    }
    for (let i = 0; i < W.nAgents; i++) {
        const a = uid('Agent', `agent-${i}`);
        W.agents.push(a);
        const team = rng.pick(W.teams);
        const parents = [team, ...rng.sample(W.groups, rng.int(1, 3))];
        const attrs = {
            team: team.id,
            trust: rng.int(0, 100),
            role: rng.pick(ROLES),
            model: rng.pick(MODELS),
            owner: `owner${rng.int(0, 99)}@example.com`,
            clearance: rng.sample(CLEARANCES, rng.int(0, 3)),
            tags: rng.sample(TAGS, rng.int(1, 4)),
            max_spend: extn('decimal', decimalStr(rng, 10, 5000)),
        };
        if (rng.chance(0.1)) attrs.quarantined = rng.chance(0.5);
        if (rng.chance(0.3)) attrs.supervisor = `human${rng.int(0, 20)}@example.com`;
        add(a, attrs, parents);
    }
    for (const kind of KINDS) {
        W.resources[kind] = [];
        for (let i = 0; i < W.nPerKind; i++) {
            const r = uid(kind, `${kind.toLowerCase()}-${i}`);
            W.resources[kind].push(r);
            const parents = [rng.pick(W.projects)];
            if (rng.chance(0.15)) parents.push(rng.pick(W.projects));
            const attrs = { sensitivity: rng.int(0, 4), tags: rng.sample(TAGS, rng.int(0, 3)) };
            if (kind === 'Tool') {
                attrs.category = rng.pick(['search', 'shell', 'http', 'email', 'payments', 'sql']);
                attrs.egress_restricted = rng.chance(0.5);
                attrs.allowed_destinations = rng.sample(DESTINATIONS, rng.int(1, 3));
            } else if (kind === 'Dataset') {
                attrs.pii = rng.chance(0.3);
                attrs.region = rng.pick(REGIONS);
                attrs.owner_team = { __entity: rng.pick(W.teams) };
            } else if (kind === 'Repo') {
                attrs.visibility = rng.pick(['public', 'internal', 'private']);
                attrs.protected = rng.chance(0.4);
            } else {
                attrs.severity = rng.int(1, 5);
                attrs.status = rng.pick(['open', 'triaged', 'in-progress', 'closed']);
                attrs.assignee = { __entity: rng.pick(W.agents) };
                attrs.amount = extn('decimal', decimalStr(rng, 0, 20000));
            }
            add(r, attrs, parents);
        }
    }
    computeMembership(W);
    return W;
}

// members[key of group/team/project] = entities having it as an ancestor
function computeMembership(W) {
    const anc = new Map();
    const ancestors = (k) => {
        if (anc.has(k)) return anc.get(k);
        const out = new Set();
        anc.set(k, out);
        const ent = W.byKey.get(k);
        if (ent) {
            for (const p of ent.parents) {
                const pk = key(p);
                out.add(pk);
                for (const x of ancestors(pk)) out.add(x);
            }
        }
        return out;
    };
    W.members = new Map();
    for (const ent of W.entities) {
        for (const a of ancestors(key(ent.uid))) {
            if (!W.members.has(a)) W.members.set(a, []);
            W.members.get(a).push(ent.uid);
        }
    }
    W.ancestors = ancestors;
}

function entitiesJson(W) {
    return W.entities.map((e) => ({ uid: e.uid, attrs: e.attrs, parents: e.parents }));
}

// ---- policies

// A scope: the text plus what a request must look like to fall inside it.
function principalScope(rng, W, mustBeSpecific) {
    const r = rng.float();
    if (r < 0.40) { const g = rng.pick(W.groups); return { text: `principal in ${lit(g)}`, within: g }; }
    if (r < 0.65) { const a = rng.pick(W.agents); return { text: `principal == ${lit(a)}`, exact: a }; }
    if (r < 0.75) { const t = rng.pick(W.teams); return { text: `principal in ${lit(t)}`, within: t }; }
    if (r < 0.85 || mustBeSpecific) { const g = rng.pick(W.groups); return { text: `principal is Agent in ${lit(g)}`, within: g }; }
    return { text: 'principal', any: true };
}

function actionScope(rng, kind) {
    const acts = kind ? KIND_ACTIONS[kind] : ACTIONS;
    const r = rng.float();
    if (r < 0.45) { const a = rng.pick(acts); return { text: `action == Action::"${a}"`, actions: [a] }; }
    if (r < 0.80) {
        const as = rng.sample(acts, rng.int(2, 3));
        return { text: `action in [${as.map((a) => `Action::"${a}"`).join(', ')}]`, actions: as };
    }
    if (r < 0.93) {
        const g = rng.pick(Object.keys(ACTION_GROUPS));
        return { text: `action in Action::"${g}"`, actions: ACTION_GROUPS[g] };
    }
    return { text: 'action', actions: acts };
}

function resourceScope(rng, W, principalAny, globalAllowed) {
    let r = rng.float();
    // a principal-free policy may be global (`is Kind`) only while guardrails are allowed
    if (principalAny && !globalAllowed && r >= 0.80) r = rng.float() * 0.80;
    if (r < 0.45 || (principalAny && r >= 0.90)) {
        const p = rng.pick(W.projects);
        return { text: `resource in ${lit(p)}`, within: p, kind: null };
    }
    if (r < 0.65) {
        const kind = rng.pick(KINDS);
        const x = rng.pick(W.resources[kind]);
        return { text: `resource == ${lit(x)}`, exact: x, kind };
    }
    if (r < 0.80) {
        const kind = rng.pick(KINDS);
        const p = rng.pick(W.projects);
        return { text: `resource is ${kind} in ${lit(p)}`, within: p, kind };
    }
    if (r < 0.90) {
        const kind = rng.pick(KINDS);
        return { text: `resource is ${kind}`, kind, anyOfKind: true };
    }
    return { text: 'resource', any: true, kind: null };
}

// One boolean condition.  `kind` is the resource kind when the scope fixes it
// (then its attributes can be used without a `has` guard).
function condition(rng, W, kind, opts) {
    const guard = (attr, expr) => (kind ? expr : `(resource has ${attr} && ${expr})`);
    const choices = [
        [3, () => `principal.trust >= ${rng.int(10, 90)}`],
        [2, () => `resource.sensitivity <= ${rng.int(0, 4)}`],
        [2, () => `context.purpose like "${rng.pick(PURPOSES).split(' ')[0]}*"`],
        [1, () => `context.purpose like "*${rng.pick(['triage', 'review', 'hotfix', 'refund', 'audit'])}"`],
        [2, () => `context.destination like "*.${rng.pick(['internal.example.com', 'example.com', 'amazonaws.com'])}"`],
        [2, () => `ip(context.source_ip).isInRange(ip("10.${rng.int(0, 3)}.0.0/16"))`],
        [1, () => `(ip(context.source_ip).isInRange(ip("10.0.0.0/8")) || ip(context.source_ip).isLoopback())`],
        [2, () => `context.amount.lessThanOrEqual(decimal("${decimalStr(rng, 10, 5000)}"))`],
        [1, () => `context.amount.lessThan(principal.max_spend)`],
        [2, () => `!(principal has quarantined && principal.quarantined)`],
        [2, () => `principal.clearance.contains("${rng.pick(CLEARANCES)}")`],
        [2, () => `principal.tags.containsAny(resource.tags)`],
        [1, () => `[${rng.sample(ROLES, 2).map((x) => JSON.stringify(x)).join(', ')}].contains(principal.role)`],
        [1, () => `principal.role == "${rng.pick(ROLES)}"`],
        [2, () => `(if context.hour >= 9 && context.hour < 18 then principal.trust >= ${rng.int(20, 60)} else principal.trust >= ${rng.int(60, 95)})`],
        [1, () => `context.mfa`],
        [1, () => `context.session_tags.containsAll(["approved"])`],
        [1, () => `(context has justification && context.justification like "*INC-*")`],
        [1, () => `principal has supervisor`],
        [1, () => `principal.model like "claude*" || principal.model like "internal*"`],
        [1, () => `principal in resource.owner_team`, 'Dataset'],
        [1, () => `resource.pii == false || principal.clearance.contains("pii")`, 'Dataset'],
        [1, () => `["${rng.pick(REGIONS)}", "${rng.pick(REGIONS)}"].contains(resource.region)`, 'Dataset'],
        [1, () => `resource.allowed_destinations.contains(context.destination)`, 'Tool'],
        [1, () => `!resource.egress_restricted || context.destination like "*.internal.example.com"`, 'Tool'],
        [1, () => `resource.visibility != "private" || principal.trust > 80`, 'Repo'],
        [1, () => `resource.assignee == principal`, 'Ticket'],
        [1, () => `resource.amount.lessThanOrEqual(context.amount)`, 'Ticket'],
        [1, () => `resource.severity + ${rng.int(0, 2)} >= ${rng.int(2, 6)}`, 'Ticket'],
    ];
    if (opts.datetime) {
        choices.push([1, () => `datetime(context.time) < datetime("2025-0${rng.int(1, 9)}-15T00:00:00Z")`]);
        choices.push([1, () => `datetime(context.time).toTime() >= duration("${rng.int(6, 10)}h")`]);
    }
    // keep kind-specific conditions only where the kind is known, or guard them
    const usable = choices.filter((c) => !c[2] || c[2] === kind || !kind);
    const [, make, needKind] = rng.weighted(usable.map((c) => [c[0], c]));
    const text = make();
    if (needKind && needKind !== kind) {
        const attr = { Dataset: 'region', Tool: 'egress_restricted', Repo: 'visibility', Ticket: 'assignee' }[needKind];
        return `(resource is ${needKind} && resource has ${attr} && (${text}))`;
    }
    if (!kind && text.includes('resource.')) {
        const attr = text.match(/resource\.(\w+)/)[1];
        return guard(attr, `(${text})`);
    }
    return text;
}

function policy(rng, W, i, opts) {
    const effect = rng.chance(0.75) ? 'permit' : 'forbid';
    const ps = principalScope(rng, W, false);
    const globalAllowed = opts.globalMax < 0 || (opts.globals || 0) < opts.globalMax;
    const rs = resourceScope(rng, W, !!ps.any, globalAllowed);
    if (ps.any && (rs.any || rs.anyOfKind)) opts.globals = (opts.globals || 0) + 1;
    const as = actionScope(rng, rs.kind);
    const clauses = [];
    const nc = rng.weighted([[1, 0], [4, 1], [4, 2], [2, 3]]);
    for (let c = 0; c < nc; c++) {
        let e = condition(rng, W, rs.kind, opts);
        if (rng.chance(0.15)) e = `(${e} || ${condition(rng, W, rs.kind, opts)})`;
        const kw = effect === 'forbid' && rng.chance(0.4) ? 'unless' : (rng.chance(0.1) ? 'unless' : 'when');
        clauses.push(kw === 'unless' ? `unless { ${e} }` : `when { ${e} }`);
    }
    const ann = rng.chance(0.3) ? `@id("agents-${i}")\n` : '';
    const text = `${ann}${effect} (\n  ${ps.text},\n  ${as.text},\n  ${rs.text}\n)${clauses.length ? '\n' + clauses.join('\n') : ''};\n`;
    return { text, effect, ps, as, rs };
}

// ---- requests

function pickPrincipal(rng, W, ps) {
    if (ps && ps.exact) return ps.exact;
    if (ps && ps.within) {
        const m = (W.members.get(key(ps.within)) || []).filter((u) => u.type === 'Agent');
        if (m.length) return rng.pick(m);
    }
    return rng.pick(W.agents);
}

function pickResource(rng, W, rs) {
    if (rs && rs.exact) return rs.exact;
    if (rs && rs.within) {
        const m = (W.members.get(key(rs.within)) || []).filter((u) => KINDS.includes(u.type) && (!rs.kind || u.type === rs.kind));
        if (m.length) return rng.pick(m);
    }
    if (rs && rs.kind) return rng.pick(W.resources[rs.kind]);
    return rng.pick(W.resources[rng.pick(KINDS)]);
}

function context(rng, opts) {
    const ipPick = rng.weighted([
        [5, () => `10.${rng.int(0, 3)}.${rng.int(0, 255)}.${rng.int(1, 254)}`],
        [2, () => `192.168.${rng.int(0, 255)}.${rng.int(1, 254)}`],
        [1, () => '127.0.0.1'],
        [2, () => `203.0.113.${rng.int(1, 254)}`],
    ]);
    const ctx = {
        purpose: rng.pick(PURPOSES),
        destination: rng.pick(DESTINATIONS),
        source_ip: ipPick(),
        amount: extn('decimal', decimalStr(rng, 0, 6000)),
        hour: rng.int(0, 23),
        mfa: rng.chance(0.6),
        session_tags: rng.sample(['approved', 'interactive', 'batch', 'elevated'], rng.int(0, 2)),
    };
    if (opts.datetime) ctx.time = `2025-0${rng.int(1, 9)}-${String(rng.int(10, 28))}T${String(rng.int(0, 23)).padStart(2, '0')}:00:00Z`;
    if (rng.chance(0.3)) ctx.justification = `see INC-${rng.int(100, 999)}`;
    return ctx;
}

function requests(rng, W, pols, count, opts) {
    const permits = pols.filter((p) => p.effect === 'permit');
    const out = [];
    for (let i = 0; i < count; i++) {
        let principal, action, resource;
        if (rng.chance(0.6) && permits.length) {
            const p = rng.pick(permits);
            principal = pickPrincipal(rng, W, p.ps);
            resource = pickResource(rng, W, p.rs);
            action = uid('Action', rng.pick(p.as.actions));
        } else {
            principal = rng.pick(W.agents);
            resource = pickResource(rng, W, null);
            action = uid('Action', rng.pick(KIND_ACTIONS[resource.type]));
        }
        out.push({ principal, action, resource, context: context(rng, opts) });
    }
    return out;
}

function main() {
    const o = parseArgs(process.argv);
    const rng = makeRng(`${o.seed}/${o.policies}`);
    const W = buildWorld(rng, o.policies);
    const pols = [];
    for (let i = 0; i < o.policies; i++) pols.push(policy(rng, W, i, o));
    const reqs = requests(rng, W, pols, o.requests, o);
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'policies.cedar'), pols.map((p) => p.text).join('\n'));
    writeFileSync(join(o.out, 'entities.json'), JSON.stringify(entitiesJson(W), null, 1) + '\n');
    writeFileSync(join(o.out, 'requests.json'), JSON.stringify(reqs, null, 1) + '\n');
    process.stderr.write(`gen_agents: ${o.policies} policies, ${W.entities.length} entities, ${reqs.length} requests -> ${o.out}\n`);
}

main();
