// flow_upstream.mjs - an MCP upstream that sends more than a client reads,
// for tests/server/mcp_flow.sh (the gateway's flow control).  A tools/call of
// tool:
//   big      200 text/event-stream: progress notifications of 64 KiB each,
//            arguments.mb MiB of them in all, then the response.  Written as
//            the socket takes them (write's backpressure), so a gateway that
//            stops reading holds this writer too.  Every byte sent is hashed:
//            stats shows the sha256 and length of the last big answer sent
//            whole.
//   endless  200 text/event-stream: one event of 17 MiB (no end of it
//            before then: nothing of it can be handed out until it is all in)
//   echo     200 application/json, a result whose text is arguments.text
//   leak     200 text/event-stream: arguments.mb MiB (12) of progress
//            notifications, then
//            an event holding the X-Api-Key it was sent, written in two
//            pieces 500 ms apart (the key cut in the middle), then the response
//   leakraw  500 text/plain: arguments.mb MiB (12) of lines, then "bad key: KEY", cut in two
//            pieces 500 ms apart inside the key
//   stats    200 application/json, a result whose text is JSON:
//            {open, aborted, done, sha256, bytes, waited_ms} (big answers
//            under way, cut by the other side, sent whole; the last whole
//            one's hash; how long the last leak's MiB took to be taken)
// initialize is answered, notifications get a 202, tools/list lists them
// (read-only).  Prints its port.
import { createHash } from "node:crypto";
import { createServer } from "node:http";

const later = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = { open: 0, aborted: 0, done: 0, sha256: "", bytes: 0, waited_ms: 0 };

// write and wait for the socket to take it; false when the other side left
function put(rs, s) {
  return new Promise((resolve) => {
    if (rs.destroyed || rs.writableEnded) return resolve(false);
    if (rs.write(s)) return resolve(true);
    const go = () => { rs.off("close", gone); resolve(true); };
    const gone = () => { rs.off("drain", go); resolve(false); };
    rs.once("drain", go);
    rs.once("close", gone);
  });
}

const filler = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(1821).slice(0, 65536 - 120);
const progress = (i) =>
  `data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":${i},` +
  `"message":"${filler}"}}\n\n`;

const http = createServer(async (rq, rs) => {
  if (rq.method !== "POST") return rs.writeHead(405).end();
  let body = "";
  for await (const c of rq) body += c;
  let msg = {};
  try { msg = JSON.parse(body); } catch { /* below */ }
  const key = rq.headers["x-api-key"] ?? "";
  const half = Math.floor(key.length / 2);
  const answer = (result) => JSON.stringify({ jsonrpc: "2.0", id: msg.id, result });
  const tool = msg?.params?.name;
  if (msg?.method === "initialize") {
    rs.writeHead(200, { "Content-Type": "application/json" }).end(answer({
      protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "flow", version: "1" } }));
  } else if (msg?.method?.startsWith("notifications/")) {
    rs.writeHead(202).end();
  } else if (msg?.method === "tools/list") {
    const tools = ["big", "endless", "echo", "leak", "leakraw", "stats"].map((name) => ({
      name, inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }));
    rs.writeHead(200, { "Content-Type": "application/json" }).end(answer({ tools }));
  } else if (tool === "big") {
    const total = (msg.params.arguments?.mb ?? 64) * 1048576;
    const h = createHash("sha256");
    let sent = 0, ok = true;
    stats.open++;
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    for (let i = 0; ok && sent < total; i++) {
      const ev = progress(i);
      h.update(ev);
      sent += ev.length;
      ok = await put(rs, ev);
    }
    if (ok) {
      const last = `data: ${answer({ content: [{ type: "text", text: "done" }] })}\n\n`;
      h.update(last);
      sent += last.length;
      ok = await put(rs, last);
    }
    stats.open--;
    if (ok) {
      rs.end();
      stats.done++;
      stats.sha256 = h.digest("hex");
      stats.bytes = sent;
    } else {
      stats.aborted++;
    }
  } else if (tool === "endless") {
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    const piece = "x".repeat(65536);
    if (!(await put(rs, "data: "))) return;
    for (let i = 0; i < 17 * 16; i++) if (!(await put(rs, piece))) return;
    rs.end("\n\n");
  } else if (tool === "echo") {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(answer({ content: [{ type: "text", text: String(msg.params.arguments?.text ?? "") }] }));
  } else if (tool === "stats") {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(answer({ content: [{ type: "text", text: JSON.stringify(stats) }] }));
  } else if (tool === "leak") {
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    const t0 = Date.now();
    const mb = msg.params.arguments?.mb ?? 12;
    for (let i = 0; i < mb * 16; i++) if (!(await put(rs, progress(i)))) return;
    stats.waited_ms = Date.now() - t0;
    const ev = `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/message",
                                          params: { level: "info", data: `key ${key}` } })}\n\n`;
    const cut = ev.indexOf(key) + half;
    if (!(await put(rs, ev.slice(0, cut)))) return;
    await later(500);
    rs.end(ev.slice(cut) + `data: ${answer({ content: [{ type: "text", text: "done" }] })}\n\n`);
  } else if (tool === "leakraw") {
    rs.writeHead(500, { "Content-Type": "text/plain" });
    const line = "x".repeat(1023) + "\n";
    const t0 = Date.now();
    const mb = msg.params.arguments?.mb ?? 12;
    for (let i = 0; i < mb * 1024; i++) if (!(await put(rs, line))) return;
    stats.waited_ms = Date.now() - t0;
    const text = `bad key: ${key}\n`;
    if (!(await put(rs, text.slice(0, 9 + half)))) return;
    await later(500);
    rs.end(text.slice(9 + half));
  } else {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: msg?.id ?? null, error: { code: -32601, message: "no" } }));
  }
});
http.listen(0, "127.0.0.1", () => console.log(http.address().port));
