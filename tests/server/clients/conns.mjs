// conns.mjs - hold many keep-alive connections to writ serve at once.
//
//   node conns.mjs HOST PORT COUNT BODY-FILE EXPECT-PREFIX [WAIT-MS]
//
// Opens COUNT TCP connections (in waves, so the listen backlog is not the
// limit), sends one AuthZEN evaluation on each, and keeps them all open.
// When every connection has its first answer (or WAIT-MS passed), sends a
// second request on each still-open connection (keep-alive reuse), then
// prints one JSON line of counts and closes everything:
//   {"opened", "answered1", "answered2", "right", "wrong", "refused",
//    "closed", "errors", "statuses": {...}}
// "right" counts answers whose status is 200 and body starts with
// EXPECT-PREFIX.  No dependency beyond Node itself.
import net from 'node:net';
import fs from 'node:fs';

const [host, portS, countS, bodyFile, expect, waitS] = process.argv.slice(2);
const port = Number(portS), count = Number(countS), waitMs = Number(waitS || 60000);
const body = fs.readFileSync(bodyFile);
const reqBuf = Buffer.concat([
  Buffer.from(`POST /access/v1/evaluation HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
              `Content-Length: ${body.length}\r\n\r\n`),
  body,
]);

const st = { opened: 0, answered1: 0, answered2: 0, right: 0, wrong: 0, refused: 0, closed: 0, errors: 0,
             statuses: {} };
const conns = [];

// Parse answers off a connection's byte stream (Content-Length bodies only).
function onAnswer(c, status, text) {
  st.statuses[status] = (st.statuses[status] || 0) + 1;
  if (status === 200 && text.startsWith(expect)) st.right++;
  else if (status === 503) st.refused++;
  else st.wrong++;
  c.answers++;
  if (c.answers === 1) st.answered1++;
  else if (c.answers === 2) st.answered2++;
  if (c.waiter) { const w = c.waiter; c.waiter = null; w(); }
}
function feed(c, chunk) {
  c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
  for (;;) {
    const he = c.buf.indexOf('\r\n\r\n');
    if (he < 0) return;
    const head = c.buf.subarray(0, he).toString('latin1');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const n = cl ? Number(cl[1]) : 0;
    if (c.buf.length < he + 4 + n) return;
    const text = c.buf.subarray(he + 4, he + 4 + n).toString('utf8');
    c.buf = c.buf.subarray(he + 4 + n);
    onAnswer(c, m ? Number(m[1]) : 0, text);
  }
}

function open() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const c = { s, buf: Buffer.alloc(0), answers: 0, waiter: null, open: false, dead: false };
    conns.push(c);
    s.setNoDelay(true);
    s.on('connect', () => { c.open = true; st.opened++; s.write(reqBuf); resolve(); });
    s.on('data', (d) => feed(c, d));
    s.on('error', () => { st.errors++; });
    s.on('close', () => {
      if (!c.dead) st.closed++;
      c.dead = true;
      if (c.waiter) { const w = c.waiter; c.waiter = null; w(); }
      resolve();
    });
  });
}

const deadline = Date.now() + waitMs;
const WAVE = 500;
for (let i = 0; i < count; i += WAVE) {
  const wave = [];
  for (let k = i; k < Math.min(count, i + WAVE); k++) wave.push(open());
  await Promise.race([Promise.all(wave), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
}
// Wait for every first answer.
async function until(pred) {
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
await until(() => conns.every((c) => c.dead || c.answers >= 1));
// Everything is open at once now: reuse each live connection.
st.concurrent = conns.filter((c) => c.open && !c.dead).length;
for (const c of conns) if (c.open && !c.dead && c.answers >= 1) c.s.write(reqBuf);
await until(() => conns.every((c) => c.dead || !c.open || c.answers >= 2));
// Hold them a little longer if asked (the caller probes the server meanwhile).
const hold = Number(process.env.HOLD_MS || 0);
if (hold) {
  process.stdout.write(JSON.stringify({ holding: st.concurrent }) + '\n');
  await new Promise((r) => setTimeout(r, hold));
}
for (const c of conns) c.s.destroy();
process.stdout.write(JSON.stringify(st) + '\n');
process.exit(0);
