// The approval console: a signed-in approver sees what agents are waiting
// for and decides.  Everything shown comes from /approvals and is written
// with textContent only: agent names, arguments and reasons are
// attacker-controlled text.
"use strict";

const KEY = "writ.approver";
const $ = (id) => document.getElementById(id);
let timer = null;

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

function render(list, status) {
  const ol = $("list");
  ol.replaceChildren();
  $("empty").hidden = list.length > 0;
  const tpl = $("card");
  for (const a of list) {
    const li = tpl.content.firstElementChild.cloneNode(true);
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
    ol.appendChild(li);
  }
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
    await refresh();
  } catch (e) {
    errp.textContent = e.status === 403 ? "Policy does not let you decide this one (" + e.message + ")" :
                       e.status === 409 ? "Someone else decided it, or it expired (" + e.message + ")" : e.message;
    errp.hidden = false;
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function refresh() {
  const status = $("filter").value;
  try {
    const body = await api("/approvals" + (status ? "?status=" + encodeURIComponent(status) : ""));
    $("queue-error").hidden = true;
    // keep a reason being typed: do not redraw under the approver's hands
    const typing = document.activeElement && document.activeElement.classList.contains("reason") &&
                   document.activeElement.value;
    if (!typing) render(body.approvals || [], status);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.status === 401) { signOut("Your token was refused: " + e.message); return; }
    $("queue-error").textContent = e.message;
    $("queue-error").hidden = false;
  }
}

function signedIn() {
  $("signin").hidden = true;
  $("queue").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = "signed in";
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 2000);
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
  $("filter").addEventListener("change", refresh);
  if (token()) signedIn();
});
