// The approval console: a signed-in approver sees what agents are waiting
// for and decides.  Everything shown comes from /approvals and is written
// with textContent only: agent names, arguments and reasons are
// attacker-controlled text, shown with its invisible and bidi characters
// made visible, and the arguments exactly as the approval binds them (a
// string as a string, an integer with all its digits: see exact()).  The list comes in pages: "More" asks for the page after the
// last card (the API's cursor).  The refresh every two seconds never moves a
// card: a click must decide the card the approver read (see update()).
"use strict";

const KEY = "writ.approver";
const MAX = 1000; // the API's largest page
// cards a page holds: ?limit=N on this page's address, else 100
const PAGE = (() => {
  const n = Number(new URLSearchParams(location.search).get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= MAX ? n : 100;
})();
const $ = (id) => document.getElementById(id);
const STILL = 1000; // ms a card ignores clicks after it appeared or moved
let timer = null;
let shown = 0;    // cards on the list
let next = null;  // the cursor of the page after the last card
let waiting = 0;  // requests newer than the list, not shown yet
let queue = Promise.resolve();
const cards = new Map(); // id -> {li, a, left, at, since}: the cards on the list

// one load at a time: a refresh, "More" and a decision never interleave
function serial(fn) {
  queue = queue.then(fn, fn);
  return queue;
}

function token() { return sessionStorage.getItem(KEY); }

async function api(path, opts = {}) {
  const headers = { "Authorization": "Bearer " + token(), ...(opts.headers || {}) };
  const res = await fetch(path, { ...opts, headers, cache: "no-store" });
  let body = null;
  try { body = exact(await res.text()); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? (body.error.message || body.error.code || body.error) : res.statusText;
    const err = new Error(res.status + ": " + msg);
    err.status = res.status;
    throw err;
  }
  return body;
}

// JSON.parse, but an integer a JavaScript number cannot hold (past 2^53:
// 12345678901234567 would read as ...568) keeps its own digits
// (JSON.rawJSON, shown as they were by JSON.stringify).  A browser without
// it marks the approval `inexact`: its card does not offer to approve what
// it cannot show.  (Approvals hold numbers in their input only.)
function exact(t) {
  let lost = false;
  return JSON.parse(t, function (k, v, ctx) {
    if (typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v)) {
      if (ctx && typeof ctx.source === "string" && typeof JSON.rawJSON === "function") return JSON.rawJSON(ctx.source);
      lost = true;
    } else if (v && typeof v === "object" && typeof v.input_sha256 === "string") {
      if (lost) v.inexact = true;
      lost = false;
    }
    return v;
  });
}

function uidId(uid) {
  // Writ::Agent::"deploy-bot" -> deploy-bot (the type is in the label)
  const m = /::"((?:[^"\\]|\\.)*)"$/.exec(uid || "");
  return m ? m[1].replace(/\\(.)/g, "$1") : (uid || "");
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago";
}

// Characters that are invisible, look like another or reorder the text
// around them: controls, bidi marks, embeddings, overrides and isolates,
// zero-width characters, BOM, line separators, fillers, the other default
// ignorables (variation selectors, the grapheme joiner ...), spaces other
// than U+0020 and the braille blank.  Agent text shows them as <U+202E>.
const HIDDEN = new RegExp("([\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Default_Ignorable_Code_Point}" +
  "\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000\\u2800\\u115f\\u1160\\u3164\\uffa0]" +
  // a combining mark past the third on one character: stacked marks draw
  // over the lines around them
  "|(?<=\\p{M}{3})\\p{M})", "u");
const mark = (c) => "\u27e8U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "\u27e9";

// Lookalikes: a word whose letters come from more than one of the scripts
// that share shapes with Latin ("раypal": Cyrillic р and а), or whose digits
// mix ASCII with others ("1٠00": an Arabic-Indic zero), shows its non-ASCII
// letters and digits as marks.  (A word wholly in one script is shown as
// it is: "рау" may still pass for "pay".)
const SCRIPTS = ["Latin", "Cyrillic", "Greek", "Armenian", "Cherokee", "Coptic"].map((n) => new RegExp("\\p{Script=" + n + "}", "u"));
const mixed = (w) => SCRIPTS.filter((re) => re.test(w)).length > 1 || (/[0-9]/.test(w) && /(?![0-9])\p{Nd}/u.test(w));

function ctl(c) {
  const m = document.createElement("span");
  m.className = "ctl";
  m.textContent = mark(c);
  return m;
}

// visible text into span (one text node while there is no mark), the
// foreign letters of a mixed word as marks
function words(span, s) {
  let run = "";
  s.split(/([\p{L}\p{M}\p{N}]+)/u).forEach((w, i) => {
    if (i % 2 === 0 || !mixed(w)) { run += w; return; }
    for (const c of w) {
      if (c > "\x7f" && /[\p{L}\p{N}]/u.test(c)) { span.append(run, ctl(c)); run = ""; } else run += c;
    }
  });
  span.append(run);
}

// agent text as a node: isolated (it cannot reorder its neighbours), each
// hidden character replaced by its visible mark
function text(s) {
  const span = document.createElement("span");
  span.className = "text";
  String(s).split(HIDDEN).forEach((part, i) => (i % 2 === 0 ? words(span, part) : span.append(ctl(part))));
  return span;
}

// The input as JSON, whatever it is: a string input is shown as a string,
// never read as the JSON it may spell (it is a string the approval binds).
function showArgs(a) {
  const v = a.input;
  if (v === undefined) return ["(sha-256 " + (a.input_sha256 || "?") + ")"];
  // each string of the JSON (keys and values) on its own: the rest is ASCII
  return JSON.stringify(v, null, 2).split(/("(?:[^"\\]|\\.)*")/).map((p, i) => (i % 2 ? text(p) : p));
}

function listPath(status, limit, cursor) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (status) q.set("status", status);
  if (cursor) q.set("cursor", cursor);
  return "/approvals?" + q.toString();
}

// The first `wanted` approvals of status, a page after the other: the
// list and the cursor after it (null at the end).  The approver sees only
// what they may decide, and the server weighs a bounded number of approvals
// a page: a page it cut short (fewer than asked, with a cursor) ends the
// load, and "More" looks further, so that a refresh never walks the whole
// store for one who may decide few of many.
async function load(status, wanted) {
  let list = [];
  let cursor = null;
  let short = false;
  do {
    const asked = Math.min(MAX, wanted - list.length);
    const body = await api(listPath(status, asked, cursor));
    const got = body.approvals || [];
    list = list.concat(got);
    cursor = body.next || null;
    short = got.length < asked;
  } while (cursor && !short && list.length < wanted);
  return { list, cursor };
}

const asked = (a) => age(a.created_at) + ", expires " + new Date(a.expires_at).toLocaleTimeString();

// plain strings are the page's own words; agent text goes through text()
function card(a) {
  const li = $("card").content.firstElementChild.cloneNode(true);
  li.dataset.id = a.id;
  const put = (cls, ...parts) => { li.querySelector("." + cls).replaceChildren(...parts); };
  put("action", text(a.action));
  put("resource", text(a.resource));
  put("status", a.status);
  put("agent", text(a.agent));
  put("owner", a.owner ? text(a.owner) : "—");
  const task = a.task || {};
  put("task", ...(task.purpose ? [text(task.purpose), " (", text(task.id), ")"] : [task.id ? text(task.id) : "—"]));
  const chain = Array.isArray(a.chain) ? a.chain : [];
  put("chain", ...(chain.length ? chain.flatMap((c, i) => (i ? [" → ", text(c)] : [text(c)])) : ["—"]));
  put("age", asked(a));
  put("input", ...showArgs(a));
  put("id", a.id);
  if (a.decided_by) {
    put("decided", text(a.decided_by), ...(a.reason ? [": ", text(a.reason)] : []));
  } else {
    li.querySelectorAll(".decided-row").forEach((e) => e.remove());
  }
  const form = li.querySelector("form.decide");
  // Enter in the reason would submit the form (a reload): the buttons decide
  form.addEventListener("submit", (ev) => ev.preventDefault());
  if (a.status === "pending" && a.inexact) {
    const why = document.createElement("p");
    why.className = "error";
    why.textContent = "This browser cannot show a number of these arguments exactly: " +
      "decide it with `writ approvals show " + a.id + "` or another browser.";
    form.replaceWith(why);
  } else if (a.status !== "pending") {
    form.remove();
  } else {
    li.querySelector(".approve").addEventListener("click", () => choose(li, a, "approve"));
    li.querySelector(".deny").addEventListener("click", () => choose(li, a, "deny"));
  }
  li.title = "agent " + String(uidId(a.agent)).replace(new RegExp(HIDDEN.source, "gu"), mark);
  return li;
}

function add(a) {
  const li = card(a);
  cards.set(a.id, { li, a, left: false });
  return li;
}

// Where each card's buttons are on the page, and since when: a card that
// appeared or moved ignores clicks for STILL ms, so that a click meant for
// what was there before cannot decide it.
function settle() {
  const t = performance.now();
  for (const c of cards.values()) {
    const r = (c.li.querySelector(".approve") || c.li).getBoundingClientRect();
    const at = Math.round(r.left + scrollX) + "," + Math.round(r.top + scrollY);
    if (at !== c.at) { c.at = at; c.since = t; }
  }
}

// A card whose approval changed (decided, used, expired) is drawn again in
// its place and at its height: the cards below it do not move.
function redraw(c, a) {
  const li = card(a);
  li.style.height = c.li.offsetHeight + "px";
  li.classList.add("redrawn");
  c.li.replaceWith(li);
  Object.assign(c, { li, a, at: null });
}

// "N new requests, M no longer pending: show", in a place kept for it
function news(left) {
  const parts = [];
  if (waiting) parts.push(waiting + (waiting === 1 ? " new request" : " new requests"));
  if (left) parts.push(left + " no longer " + $("filter").selectedOptions[0].textContent);
  $("fresh").textContent = parts.join(", ") + ": show";
  $("fresh").classList.toggle("idle", !parts.length);
}

// The whole list, newest first: at sign-in, on another filter, and when the
// approver asks for it ("show").
function render(list, status, cursor) {
  cards.clear();
  $("list").replaceChildren(...list.map(add));
  shown = list.length;
  next = cursor;
  waiting = 0;
  news(0);
  $("more").hidden = !next;
  $("empty").hidden = list.length > 0;
  $("empty").textContent = next ? "Nothing for you among the latest: More looks further back." : "Nothing here.";
  $("queue-title").textContent = status === "pending" ? "Waiting for a decision" : "Approvals: " + (status || "all");
  settle();
}

// The refresh between two renders: a card stays where it is.  A new request
// is only counted (the approver shows it), a changed one is redrawn in place,
// one that left the list is looked up once to show what became of it.
async function update(list, status) {
  const listed = new Set(list.map((a) => a.id));
  waiting = 0;
  for (const a of list) {
    const c = cards.get(a.id);
    if (!c) waiting++;
    else if (c.a.status !== a.status) redraw(c, a);
    else c.li.querySelector(".age").textContent = asked(a);
  }
  for (const [id, c] of cards) {
    if (listed.has(id) || c.left) continue;
    let a;
    try { a = await api("/approvals/" + encodeURIComponent(id)); } catch (e) {
      if (e.status !== 404) throw e;
      a = { ...c.a, status: "gone" };
    }
    if (a.status !== c.a.status) redraw(c, a);
    // else still listed, only past the cards loaded
    c.left = a.status === "gone" || (Boolean(status) && a.status !== status);
  }
  news([...cards.values()].filter((c) => c.left).length);
  settle();
}

// a click on Approve or Deny: only on a card that has stood still
function choose(li, a, decision) {
  const c = cards.get(a.id);
  if (!c || c.li !== li) return;
  settle();
  const errp = li.querySelector(".card-error");
  if (performance.now() - c.since < STILL) {
    errp.textContent = "This card just appeared or moved: read it, then click again.";
    errp.hidden = false;
    settle();
    return;
  }
  li.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  errp.hidden = true;
  serial(() => decide(li, a, decision));
}

async function decide(li, a, decision) {
  const errp = li.querySelector(".card-error");
  try {
    const now = await api("/approvals/" + encodeURIComponent(a.id), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ decision, reason: li.querySelector(".reason").value }),
    });
    const c = cards.get(a.id);
    if (c && c.li === li) redraw(c, now);
  } catch (e) {
    errp.textContent = e.status === 404 ? "It is gone, or policy no longer lets you decide it (" + e.message + ")" :
                       e.status === 403 ? "Policy does not let you decide this one (" + e.message + ")" :
                       e.status === 409 ? "Someone else decided it, or it expired (" + e.message + ")" : e.message;
    errp.hidden = false;
    li.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
  await refresh();
}

function failed(e) {
  if (e.status === 401) { signOut("Your token was refused: " + e.message); return; }
  $("queue-error").textContent = e.message;
  $("queue-error").hidden = false;
}

// all: render the list again (else only an empty one is)
async function refresh(all) {
  const status = $("filter").value;
  try {
    const page = await load(status, Math.max(PAGE, shown + waiting));
    $("queue-error").hidden = true;
    if (all || !cards.size) render(page.list, status, page.cursor);
    else await update(page.list, status);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    failed(e);
  }
}

// the page after the last card, added below it
async function more() {
  if (!next) return;
  const button = $("more");
  button.disabled = true;
  try {
    const body = await api(listPath($("filter").value, PAGE, next));
    const list = body.approvals || [];
    $("list").append(...list.map(add));
    shown += list.length;
    next = body.next || null;
    $("more").hidden = !next;
    $("queue-error").hidden = true;
    settle();
  } catch (e) {
    failed(e);
  } finally {
    button.disabled = false;
  }
}

function signedIn() {
  $("signin").hidden = true;
  $("queue").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = "signed in";
  serial(() => refresh(true));
  clearInterval(timer);
  timer = setInterval(() => serial(() => refresh()), 2000);
}

function signOut(why) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  $("queue").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = why || "";
  $("signin-error").hidden = !why;
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(KEY, t);
    try {
      await api("/approvals?status=pending");
      $("token").value = "";
      signedIn();
    } catch (e) {
      signOut(e.status === 401 ? "This token is not an approver's." : e.message);
    }
  });
  $("signout").addEventListener("click", () => signOut());
  $("filter").addEventListener("change", () => serial(() => { shown = 0; waiting = 0; return refresh(true); }));
  $("fresh").addEventListener("click", () => serial(() => refresh(true)));
  $("more").addEventListener("click", () => serial(more));
  if (token()) signedIn();
});
