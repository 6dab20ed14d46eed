// console.mjs - drives the approvals console in Debian's chromium (headless,
// puppeteer-core) the way an approver does: a refused token, sign in, see
// the pending approval, approve it with a reason; then, with five more
// requests like ASK (other versions) held, the pending list in pages of 2
// (console/approvals?limit=2) and "More" until it is all there.  Then the
// agent's tricks on the approver: an argument with a bidi override (shown
// with the override made visible, not reordered), and a new request while
// the approver reads a card (the card stays under the pointer, and the click
// there decides that card; a card just shown ignores clicks for a second).
// And the card shows what the approval binds: a string input as a string,
// integers past 2^53 with their digits (no Approve where the browser cannot),
// default-ignorable characters, odd spaces and stacked accents as marks.
// Last, an approver whom no policy lets decide any (STRANGER) sees none, and
// the console asks one short page of the server per load, not every page of
// the store ("More" looks further back until the end).
//   node console.mjs BASE_URL TOKEN APPROVAL_ID SHOT_DIR ASK STRANGER
// Prints one line per step: "ok STEP" or "FAIL STEP: why"; exit 1 on a FAIL.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

// puppeteer-core from tests/peers (npm ci there), as the other drivers load the SDK
const req = createRequire(new URL("../peers/package.json", import.meta.url));
const { default: puppeteer } = await import(pathToFileURL(req.resolve("puppeteer-core")).href);

const [base, token, id, shots, ask, stranger] = process.argv.slice(2);
let fails = 0;
const ok = (s) => console.log("ok   console: " + s);
const bad = (s, why) => { fails++; console.log("FAIL console: " + s + ": " + why); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// the agent: a request like ASK with other arguments (and task purpose), held; its approval's id
async function hold(input, purpose) {
  const req = JSON.parse(ask);
  Object.assign(req.context.input, input);
  if (purpose) req.context.task.purpose = purpose;
  const r = await fetch(base + "/access/v1/evaluation",
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
  const held = (await r.json()).context?.approval;
  if (held?.status !== "pending") bad("held: " + JSON.stringify(input), JSON.stringify(held));
  return held?.id;
}
// the agent's request as ASK changed by edit(req); its approval's id
async function holdEdit(edit) {
  const req = JSON.parse(ask);
  edit(req);
  const r = await fetch(base + "/access/v1/evaluation",
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
  const held = (await r.json()).context?.approval;
  if (held?.status !== "pending") bad("held: " + JSON.stringify(req), JSON.stringify(held));
  return held?.id;
}
// the agent with an input of its own JSON text (numbers a JavaScript value would round)
async function holdRaw(inputText) {
  const req = JSON.parse(ask);
  req.context.input = "@@INPUT@@";
  const r = await fetch(base + "/access/v1/evaluation", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(req).replace('"@@INPUT@@"', inputText) });
  const held = (await r.json()).context?.approval;
  if (held?.status !== "pending") bad("held: " + inputText, JSON.stringify(held));
  return held?.id;
}
// the approvals API, as the approver
const approvals = async (rest) => (await fetch(base + "/approvals" + rest, { headers: { Authorization: "Bearer " + token } })).json();

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 760 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // the refused token's 401 is logged by the browser as a failed load: expected
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });

  await page.goto(base + "/console/approvals", { waitUntil: "networkidle0" });
  (await page.$("#signin:not([hidden])")) ? ok("sign-in shown") : bad("sign-in shown", "no form");
  if (shots) await page.screenshot({ path: shots + "/console-signin.png" });

  // a token that is not an approver's
  await page.type("#token", "not-a-token");
  await page.click("#signin-form button[type=submit]");
  await page.waitForSelector("#signin-error:not([hidden])", { timeout: 5000 });
  const refused = await page.$eval("#signin-error", (e) => e.textContent);
  refused.includes("not an approver") ? ok("bad token refused") : bad("bad token refused", refused);

  await page.$eval("#token", (e) => { e.value = ""; });
  await page.type("#token", token);
  await page.click("#signin-form button[type=submit]");
  const sel = `li.card[data-id="${id}"]`;
  await page.waitForSelector(sel, { timeout: 10000 });
  ok("pending approval listed");
  const text = await page.$eval(sel, (e) => e.innerText);
  for (const want of ["deploy", "Writ::Agent::", "production", "2.4.1"])
    text.includes(want) ? ok("card shows " + want) : bad("card shows " + want, text);
  // arguments are attacker text: shown, never run as markup
  const imgs = await page.$$eval("#list img", (l) => l.length);
  imgs === 0 && text.includes("<img") ? ok("arguments shown as text") : bad("arguments shown as text", imgs + " img; " + text);
  if (shots) await page.screenshot({ path: shots + "/console-approvals.png", fullPage: true });

  await sleep(1100); // a card takes clicks once it has stood still for a second
  await page.type(sel + " input.reason", "release 2.4.1 signed off");
  await page.click(sel + " button.approve");
  // the decided card stays where it was, drawn again with its new status
  await page.waitForFunction((s) => { const li = document.querySelector(s);
    return !li || li.querySelector(".status").textContent === "approved"; }, { timeout: 10000 }, sel);
  const stayed = Boolean(await page.$(sel));
  stayed ? ok("approved card stays in place, marked approved") : bad("approved card stays in place, marked approved", "gone");
  // ... until the approver asks for the list again
  if (stayed) {
    await page.waitForSelector("#fresh:not(.idle)", { timeout: 10000 });
    const label = await page.$eval("#fresh", (e) => e.textContent);
    label === "1 no longer pending: show" ? ok("show button counts it") : bad("show button counts it", label);
    await page.click("#fresh");
  }
  await page.waitForFunction((s) => !document.querySelector(s), { timeout: 10000 }, sel);
  ok("approved card leaves the pending list");

  await page.select("#filter", "approved");
  await page.waitForSelector(sel, { timeout: 10000 });
  const done = await page.$eval(sel, (e) => e.innerText);
  done.includes("release 2.4.1 signed off") ? ok("approved list shows the reason") : bad("approved list shows the reason", done);
  if (shots) await page.screenshot({ path: shots + "/console-approved.png", fullPage: true });

  // pages: the console asks for ?limit= of its own address; "More" adds the next page
  for (let v = 1; v <= 5; v++) await hold({ version: "3.0." + v });
  const all = (await approvals("?status=pending&limit=1000")).approvals.map((a) => a.id);
  all.length === 5 ? ok("five pending: more than two pages") : bad("five pending: more than two pages", all.length);
  await page.goto(base + "/console/approvals?limit=2", { waitUntil: "networkidle0" });
  const cards = () => page.$$eval("#list li.card", (l) => l.map((e) => e.dataset.id).join(" "));
  const moreShown = () => page.$eval("#more", (e) => !e.hidden);
  await page.waitForFunction(() => document.querySelectorAll("#list li.card").length > 0, { timeout: 10000 });
  let got = await cards();
  got === all.slice(0, 2).join(" ") ? ok("first page: the newest two") : bad("first page: the newest two", got);
  (await moreShown()) ? ok("More shown") : bad("More shown", "hidden");
  for (let n = 4; n < all.length + 2; n += 2) {
    await page.click("#more");
    await page.waitForFunction((k) => document.querySelectorAll("#list li.card").length >= k, { timeout: 10000 },
      Math.min(n, all.length));
  }
  got = await cards();
  got === all.join(" ") ? ok("More: every pending approval once, in order") : bad("More: every pending approval once, in order", got);
  (await moreShown()) ? bad("More hidden at the end", "shown") : ok("More hidden at the end");
  await new Promise((r) => setTimeout(r, 2500)); // the refresh reloads as many as are shown
  got = await cards();
  got === all.join(" ") ? ok("refresh keeps the pages loaded") : bad("refresh keeps the pages loaded", got);


  // F4: an argument with a right-to-left override ("acct-<RLO>1000-9999<PDF>" is drawn
  // "acct-9999-0001" by a browser): shown with the controls as visible marks, in order
  const spoof = await hold({ version: "3.1.0", to: "acct-\u202e1000-9999\u202c" }, "ship \u2066fix\u2069\u200b");
  await page.goto(base + "/console/approvals", { waitUntil: "networkidle0" });
  const ssel = `li.card[data-id="${spoof}"]`;
  await page.waitForSelector(ssel, { timeout: 10000 });
  const shown = await page.$eval(ssel, (li) => {
    // where "1000" and "9999" are drawn: left to right as written, unless reordered
    const walk = document.createTreeWalker(li.querySelector(".input"), NodeFilter.SHOW_TEXT);
    let left = null;
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const i = n.data.indexOf("1000-9999");
      if (i < 0) continue;
      const x = (k) => { const r = document.createRange(); r.setStart(n, k); r.setEnd(n, k + 1); return r.getBoundingClientRect().left; };
      left = x(i) < x(i + 5);
    }
    return { input: li.querySelector(".input").innerText, task: li.querySelector(".task").innerText, left,
             controls: /[\u0000-\u0008\u000b-\u001f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/.test(li.textContent) };
  });
  shown.input.includes('"acct-\u27e8U+202E\u27e91000-9999\u27e8U+202C\u27e9"') ? ok("bidi override shown as a mark")
    : bad("bidi override shown as a mark", shown.input);
  shown.left === true ? ok("1000-9999 drawn as written, not reversed") : bad("1000-9999 drawn as written, not reversed", String(shown.left));
  shown.task.startsWith("ship \u27e8U+2066\u27e9fix\u27e8U+2069\u27e9\u27e8U+200B\u27e9") ? ok("task purpose: isolate and zero-width marked")
    : bad("task purpose: isolate and zero-width marked", shown.task);
  !shown.controls ? ok("no bidi or invisible character left in the card") : bad("no bidi or invisible character left in the card", "found");

  // F3: the approver reads the top card; the agent makes a new request; the
  // refresh must not move the card: a click where its Approve button was decides it
  const box = await (await page.$(ssel + " button.approve")).boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  const under = () => page.evaluate((x, y) => document.elementFromPoint(x, y)?.closest("li.card")?.dataset.id, cx, cy);
  (await under()) === spoof ? ok("the read card's Approve is at the pointer") : bad("the read card's Approve is at the pointer", await under());
  await sleep(1100);
  const evil = await hold({ version: "9.9.9", to: "mallory-offshore" }); // a card of the same shape
  await sleep(2600); // a refresh or more
  const now = await under();
  now === spoof ? ok("a new request does not move the card") : bad("a new request does not move the card", now + " under the pointer");
  const label = await page.$eval("#fresh", (e) => (e.classList.contains("idle") ? "" : e.textContent)).catch(() => "no #fresh");
  label.startsWith("1 new request") ? ok("the new request is announced") : bad("the new request is announced", label);
  await page.mouse.click(cx, cy);
  await sleep(1000);
  const st = async (i) => { const a = await approvals("/" + i); return a.status + (a.decided_by ? " by " + a.decided_by : ""); };
  let got1 = await st(spoof), got2 = await st(evil);
  got1 === 'approved by Writ::User::"alice"' && got2 === "pending" ? ok("the click approved the card read, not the new one")
    : bad("the click approved the card read, not the new one", "read: " + got1 + ", new: " + got2);

  // "show": the new request on top; its buttons ignore a click for a second
  if (await page.$("#fresh:not(.idle)")) {
    await page.click("#fresh");
    const esel = `li.card[data-id="${evil}"]`;
    await page.waitForSelector(esel, { timeout: 10000 });
    await page.click(esel + " button.approve");
    await sleep(300);
    got2 = await st(evil);
    const note = await page.$eval(esel + " .card-error", (e) => (e.hidden ? "" : e.textContent));
    got2 === "pending" && note.includes("just appeared") ? ok("a card just shown ignores a click")
      : bad("a card just shown ignores a click", got2 + ", " + note);
    await sleep(1100);
    await page.click(esel + " button.deny");
    await page.waitForFunction((s) => document.querySelector(s + " .status").textContent === "denied", { timeout: 10000 }, esel);
    got2 = await st(evil);
    got2 === 'denied by Writ::User::"alice"' ? ok("a second later it takes the click") : bad("a second later it takes the click", got2);
  } else bad("show button", "missing or idle");

  // F5: the card shows the very input the approval binds.  An input that is a
  // JSON string is a string (the page once parsed it and showed the object
  // it spelled: here {"amount": 10}, while an upstream that keeps the first
  // of two keys reads 9999); an integer a JavaScript number cannot hold
  // (12345678901234567 reads as ...568, another account) shows its digits.
  const str = await holdRaw(JSON.stringify(JSON.stringify({ amount: 9999 }).replace("}", ',"amount":10}')));
  const big = await holdRaw('{"version":"3.2.0","to_account":12345678901234567,"cents":-9007199254740993}');
  const inv = await hold({ version: "3.3.0", to: "acct-10\u034f00\ufe0f", memo: "pay\u00a0now\u3000\u2800",
                           who: "ali\u0336\u0336\u0336\u0336\u0336\u0336ce" });
  // spaces as they are (a browser folds "ship  it " to "ship it"), and a
  // long word wrapped inside its card, not drawn past its edge
  const look = await hold({ version: "3.4.0", to: "\u0440ayments", ok: "caf\u00e9 \u041c\u043e\u0441\u043a\u0432\u0430 \u0395\u03bb\u03bb\u03ac\u03b4\u03b1",
                            amount: "1\u066000" });
  const wide = await holdEdit((r) => {
    r.context.task.purpose = "  ship   it ";
    r.resource = { type: "Service", id: "payments-" + "x".repeat(400) + "-prod", properties: { environment: "production" } };
  });
  await page.goto(base + "/console/approvals", { waitUntil: "networkidle0" });
  const input = (i) => page.$eval(`li.card[data-id="${i}"] .input`, (e) => e.innerText);
  await page.waitForSelector(`li.card[data-id="${inv}"]`, { timeout: 10000 });
  let t = await input(str);
  t === '"{\\"amount\\":9999,\\"amount\\":10}"' ? ok("a string input is shown as the string it is")
    : bad("a string input is shown as the string it is", t);
  t = await input(big);
  t.includes('"to_account": 12345678901234567,') && t.includes('"cents": -9007199254740993')
    ? ok("an integer past 2^53 is shown with its own digits") : bad("an integer past 2^53 is shown with its own digits", t);
  t = await input(inv);
  const marks = ["acct-10\u27e8U+034F\u27e900\u27e8U+FE0F\u27e9", "pay\u27e8U+00A0\u27e9now\u27e8U+3000\u27e9\u27e8U+2800\u27e9",
                 "ali\u0336\u0336\u0336\u27e8U+0336\u27e9\u27e8U+0336\u27e9\u27e8U+0336\u27e9ce"];
  marks.every((m) => t.includes(m)) ? ok("invisible marks, odd spaces and stacked accents shown as marks")
    : bad("invisible marks, odd spaces and stacked accents shown as marks", t);
  const wc = await page.$eval(`li.card[data-id="${wide}"]`, (li) => {
    const card = li.getBoundingClientRect(), res = li.querySelector(".resource").getBoundingClientRect();
    return { task: li.querySelector(".task").innerText, inside: res.right <= card.right + 0.5 && li.scrollWidth <= li.clientWidth };
  });
  wc.task.startsWith("  ship   it  (") ? ok("spaces shown as they are") : bad("spaces shown as they are", JSON.stringify(wc.task));
  wc.inside ? ok("a long resource id wraps inside its card") : bad("a long resource id wraps inside its card", "drawn past the edge");
  t = await input(look);
  t.includes('"\u27e8U+0440\u27e9ayments"') && t.includes('"1\u27e8U+0660\u27e900"') &&
    t.includes('"caf\u00e9 \u041c\u043e\u0441\u043a\u0432\u0430 \u0395\u03bb\u03bb\u03ac\u03b4\u03b1"')
    ? ok("lookalike letters and digits in a mixed word shown as marks, words of one script as they are")
    : bad("lookalike letters and digits in a mixed word shown as marks, words of one script as they are", t);
  // Enter in a reason field neither reloads the page nor decides: the form
  // has no submit (a browser submits a form of one field on Enter)
  await page.evaluate(() => { window.stayed = true; });
  await page.type(`li.card[data-id="${look}"] input.reason`, "typed\n");
  await sleep(500);
  const kept = await page.evaluate(() => window.stayed === true).catch(() => false);
  const lst = (await approvals("/" + look)).status;
  kept && lst === "pending" ? ok("Enter in a reason: no reload, no decision") : bad("Enter in a reason: no reload, no decision", kept + " " + lst);
  // the approval of a string input is decided like any other
  const dr = await fetch(base + "/approvals/" + str, { method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" }, body: '{"decision":"deny"}' });
  dr.status === 200 ? ok("an approval of a string input can be decided") : bad("an approval of a string input can be decided", dr.status + " " + await dr.text());
  // a browser that cannot read a number's own digits (no JSON.rawJSON) does
  // not offer to approve what it cannot show
  const old = await browser.newPage();
  await old.evaluateOnNewDocument((t) => { delete JSON.rawJSON; sessionStorage.setItem("writ.approver", t); }, token);
  await old.goto(base + "/console/approvals", { waitUntil: "networkidle0" });
  await old.waitForSelector(`li.card[data-id="${big}"]`, { timeout: 10000 });
  const oc = await old.$eval(`li.card[data-id="${big}"]`, (li) => ({ approve: Boolean(li.querySelector("button.approve")), text: li.innerText }));
  !oc.approve && oc.text.includes("cannot show") ? ok("without exact numbers: no Approve, and why")
    : bad("without exact numbers: no Approve, and why", JSON.stringify(oc));
  const oi = await old.$eval(`li.card[data-id="${inv}"]`, (li) => Boolean(li.querySelector("button.approve")));
  oi ? ok("... other cards still decidable") : bad("... other cards still decidable", "no Approve");
  await old.close();

  // a stranger: sees none, and one load is one short page (10 weighed at ?limit=1)
  let pending = (await approvals("?status=pending&limit=1000")).approvals.length;
  for (let v = 1; pending < 12; v++, pending++) await hold({ version: "5.0." + v });
  const sp = await browser.newPage();
  const lists = [];
  sp.on("request", (r) => { if (new URL(r.url()).pathname === "/approvals") lists.push(r.url()); });
  await sp.evaluateOnNewDocument((t) => { sessionStorage.setItem("writ.approver", t); }, stranger);
  await sp.goto(base + "/console/approvals?limit=1", { waitUntil: "domcontentloaded" });
  await sp.waitForSelector("#empty:not([hidden])", { timeout: 10000 });
  const first = lists.length;
  const empty = await sp.$eval("#empty", (e) => e.textContent);
  const scards = await sp.$$eval("#list li.card", (l) => l.length);
  scards === 0 ? ok("a stranger sees no card") : bad("a stranger sees no card", scards);
  first === 1 ? ok("a stranger's load: one short page, not a walk of " + pending)
    : bad("a stranger's load: one short page", first + " requests: " + lists.join(" "));
  empty.includes("More looks further back") ? ok("... says More looks further") : bad("... says More looks further", empty);
  let clicks = 0;
  while (clicks < 10 && (await sp.$eval("#more", (e) => !e.hidden))) {
    await sp.click("#more");
    clicks++;
    await sleep(300);
  }
  const left = await sp.$$eval("#list li.card", (l) => l.length);
  clicks >= 1 && clicks < 10 && left === 0 ? ok("More to the end (" + clicks + "), still no card")
    : bad("More to the end, still no card", clicks + " clicks, " + left + " cards");
  await sp.close();

  errors.length === 0 ? ok("no script errors") : bad("no script errors", errors.join(" | "));
} catch (e) {
  bad("driver", e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
process.exit(fails ? 1 : 0);
