// The approval console: a signed-in approver sees what agents are waiting
// for and decides.  Everything shown comes from /approvals and is written
// with textContent only: agent names, arguments and reasons are
// attacker-controlled text.  The list comes in pages: "More" asks for the
// page after the last card (the API's cursor), and the refresh every two
// seconds reloads as many cards as are shown.
"use strict";

const KEY = "writ.approver";
const MAX = 1000; // the API's largest page
// cards a page holds: ?limit=N on this page's address, else 100
const PAGE = (() => {
  const n = Number(new URLSearchParams(location.search).get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= MAX ? n : 100;
})();
const $ = (id) => document.getElementById(id);
let timer = null;
let shown = 0;    // cards on the list
let next = null;  // the cursor of the page after the last card
let queue = Promise.resolve();

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
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? (body.error.message || body.error.code || body.error) : res.statusText;
    const err = new Error(res.status + ": " + msg);
    err.status = res.status;
    throw err;
  }
  return body;
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

function showArgs(a) {
  let v = a.input;
  if (typeof v === "string") { try { v = JSON.parse(v); } catch (e) { /* shown as is */ } }
  if (v === undefined || v === null) return "(sha-256 " + (a.input_sha256 || "?") + ")";
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

function listPath(status, limit, cursor) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (status) q.set("status", status);
  if (cursor) q.set("cursor", cursor);
  return "/approvals?" + q.toString();
}

// The first `wanted` approvals of status, a page after the other: the
// list and the cursor after it (null at the end).
async function load(status, wanted) {
  let list = [];
  let cursor = null;
  do {
    const body = await api(listPath(status, Math.min(MAX, wanted - list.length), cursor));
    list = list.concat(body.approvals || []);
    cursor = body.next || null;
  } while (cursor && list.length < wanted);
  return { list, cursor };
}

function card(a) {
  const li = $("card").content.firstElementChild.cloneNode(true);
  li.dataset.id = a.id;
  const put = (cls, text) => { li.querySelector("." + cls).textContent = text; };
  put("action", a.action);
  put("resource", a.resource);
  put("status", a.status);
  put("agent", a.agent);
  put("owner", a.owner || "—");
  const task = a.task || {};
  put("task", task.purpose ? task.purpose + " (" + task.id + ")" : (task.id || "—"));
  put("chain", Array.isArray(a.chain) && a.chain.length ? a.chain.join(" → ") : "—");
  put("age", age(a.created_at) + ", expires " + new Date(a.expires_at).toLocaleTimeString());
  put("input", showArgs(a));
  put("id", a.id);
  if (a.decided_by) {
    put("decided", a.decided_by + (a.reason ? ": " + a.reason : ""));
  } else {
    li.querySelectorAll(".decided-row").forEach((e) => e.remove());
  }
  const form = li.querySelector("form.decide");
  if (a.status !== "pending") {
    form.remove();
  } else {
    li.querySelector(".approve").addEventListener("click", () => decide(li, a, "approve"));
    li.querySelector(".deny").addEventListener("click", () => decide(li, a, "deny"));
  }
  li.title = "agent " + uidId(a.agent);
  return li;
}

function render(list, status, cursor) {
  $("list").replaceChildren(...list.map(card));
  shown = list.length;
  next = cursor;
  $("more").hidden = !next;
  $("empty").hidden = list.length > 0;
  $("queue-title").textContent = status === "pending" ? "Waiting for a decision" : "Approvals: " + (status || "all");
}

async function decide(li, a, decision) {
  const errp = li.querySelector(".card-error");
  const buttons = li.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  errp.hidden = true;
  try {
    await api("/approvals/" + encodeURIComponent(a.id), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ decision, reason: li.querySelector(".reason").value }),
    });
    await serial(refresh);
  } catch (e) {
    errp.textContent = e.status === 403 ? "Policy does not let you decide this one (" + e.message + ")" :
                       e.status === 409 ? "Someone else decided it, or it expired (" + e.message + ")" : e.message;
    errp.hidden = false;
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function failed(e) {
  if (e.status === 401) { signOut("Your token was refused: " + e.message); return; }
  $("queue-error").textContent = e.message;
  $("queue-error").hidden = false;
}

async function refresh() {
  const status = $("filter").value;
  try {
    const page = await load(status, Math.max(PAGE, shown));
    $("queue-error").hidden = true;
    // keep a reason being typed: do not redraw under the approver's hands
    const typing = document.activeElement && document.activeElement.classList.contains("reason") &&
                   document.activeElement.value;
    if (!typing) render(page.list, status, page.cursor);
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
    $("list").append(...list.map(card));
    shown += list.length;
    next = body.next || null;
    $("more").hidden = !next;
    $("queue-error").hidden = true;
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
  serial(refresh);
  clearInterval(timer);
  timer = setInterval(() => serial(refresh), 2000);
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
  $("filter").addEventListener("change", () => serial(() => { shown = 0; return refresh(); }));
  $("more").addEventListener("click", () => serial(more));
  if (token()) signedIn();
});
