// console.mjs - drives the approvals console in Debian's chromium (headless,
// puppeteer-core) the way an approver does: a refused token, sign in, see
// the pending approval, approve it with a reason.
//   node console.mjs BASE_URL TOKEN APPROVAL_ID SHOT_DIR
// Prints one line per step: "ok STEP" or "FAIL STEP: why"; exit 1 on a FAIL.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

// puppeteer-core from tests/peers (npm ci there), as the other drivers load the SDK
const req = createRequire(new URL("../peers/package.json", import.meta.url));
const { default: puppeteer } = await import(pathToFileURL(req.resolve("puppeteer-core")).href);

const [base, token, id, shots] = process.argv.slice(2);
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

  errors.length === 0 ? ok("no script errors") : bad("no script errors", errors.join(" | "));
} catch (e) {
  bad("driver", e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
process.exit(fails ? 1 : 0);
