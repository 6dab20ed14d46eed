// console.mjs - drives the approvals console in Debian's chromium (headless,
// puppeteer-core) the way an approver does: a refused token, sign in, see
// the pending approval, approve it with a reason; then, with five more
// requests like ASK (other versions) held, the pending list in pages of 2
// (console/approvals?limit=2) and "More" until it is all there.
//   node console.mjs BASE_URL TOKEN APPROVAL_ID SHOT_DIR ASK
// Prints one line per step: "ok STEP" or "FAIL STEP: why"; exit 1 on a FAIL.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

// puppeteer-core from tests/peers (npm ci there), as the other drivers load the SDK
const req = createRequire(new URL("../peers/package.json", import.meta.url));
const { default: puppeteer } = await import(pathToFileURL(req.resolve("puppeteer-core")).href);

const [base, token, id, shots, ask] = process.argv.slice(2);
let fails = 0;
const ok = (s) => console.log("ok   console: " + s);
const bad = (s, why) => { fails++; console.log("FAIL console: " + s + ": " + why); };

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

  await page.type(sel + " input.reason", "release 2.4.1 signed off");
  await page.click(sel + " button.approve");
  await page.waitForFunction((s) => !document.querySelector(s), { timeout: 10000 }, sel);
  ok("approved card leaves the pending list");

  await page.select("#filter", "approved");
  await page.waitForSelector(sel, { timeout: 10000 });
  const done = await page.$eval(sel, (e) => e.innerText);
  done.includes("release 2.4.1 signed off") ? ok("approved list shows the reason") : bad("approved list shows the reason", done);
  if (shots) await page.screenshot({ path: shots + "/console-approved.png", fullPage: true });

  // pages: the console asks for ?limit= of its own address; "More" adds the next page
  for (let v = 1; v <= 5; v++) {
    const req = JSON.parse(ask);
    req.context.input.version = "3.0." + v;
    const r = await fetch(base + "/access/v1/evaluation",
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    const held = (await r.json()).context?.approval?.status;
    if (held !== "pending") bad("version 3.0." + v + " held", held);
  }
  const res = await fetch(base + "/approvals?status=pending&limit=1000", { headers: { Authorization: "Bearer " + token } });
  const all = (await res.json()).approvals.map((a) => a.id);
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

  errors.length === 0 ? ok("no script errors") : bad("no script errors", errors.join(" | "));
} catch (e) {
  bad("driver", e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
process.exit(fails ? 1 : 0);
