// reflect_upstream.mjs - an MCP upstream that shows the client the key it was
// sent (as a debug page or a careless error message would), for
// tests/server/mcp_attack.sh: the X-Api-Key, else the Authorization bearer
// (a token Writ minted for the call).  A tools/call of tool:
//   json  200 application/json, a result whose text is the key
//   sse   200 text/event-stream, an event holding the key, written in two
//         pieces 100 ms apart (the key cut in the middle of its last
//         '.'-separated part: a JWT's signature, else the whole key)
//   err   500 text/plain "bad key: KEY", also in two pieces cut there
//   parts 200 text/event-stream, the key's '.'-separated parts (a JWT's
//         header, payload and signature) one per line of the text, in two
//         pieces cut inside the last part
//   log   200 text/event-stream, the bearers of the requests before this one
//         ("Authorization: Bearer TOKEN", a line each: a request log a tool
//         shows), in two pieces 100 ms apart cut inside the last of them, in
//         its header, payload or signature (arguments.cut "head", "payload",
//         "sig"); as plain text when arguments.as is "text"
// initialize is answered, notifications get a 202, tools/list lists them
// (read-only).  Prints its port; each bearer it is sent goes to stderr
// ("bearer TOKEN"), for the test to look for in what the client got.
import { createServer } from "node:http";

const later = (ms) => new Promise((r) => setTimeout(r, ms));

const seen = []; // every bearer sent, oldest first

const http = createServer(async (rq, rs) => {
  if (rq.method !== "POST") return rs.writeHead(405).end();
  let body = "";
  for await (const c of rq) body += c;
  let msg = {};
  try { msg = JSON.parse(body); } catch { /* below */ }
  const bearer = (rq.headers["authorization"] ?? "").replace(/^Bearer /, "");
  const before = [...seen];
  if (bearer) { console.error(`bearer ${bearer}`); seen.push(bearer); }
  const key = rq.headers["x-api-key"] ?? bearer;
  // where the answers below cut the key: in the middle of its last part (a
  // JWT's signature; the whole key when it has no '.')
  const sigAt = key.lastIndexOf(".") + 1, half = sigAt + Math.floor((key.length - sigAt) / 2);
  const answer = (result) => JSON.stringify({ jsonrpc: "2.0", id: msg.id, result });
  if (msg?.method === "initialize") {
    rs.writeHead(200, { "Content-Type": "application/json" }).end(answer({
      protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "reflect", version: "1" } }));
  } else if (msg?.method?.startsWith("notifications/")) {
    rs.writeHead(202).end();
  } else if (msg?.method === "tools/list") {
    const tools = ["json", "sse", "err", "html", "parts", "log"].map((name) => ({ name, inputSchema: { type: "object" },
                                                         annotations: { readOnlyHint: true } }));
    rs.writeHead(200, { "Content-Type": "application/json" }).end(answer({ tools }));
  } else if (msg?.params?.name === "json") {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(answer({ content: [{ type: "text", text: `key ${key}` }] }));
  } else if (msg?.params?.name === "sse") {
    const ev = `event: message\ndata: ${answer({ content: [{ type: "text", text: `key ${key}` }] })}\n\n`;
    const cut = ev.indexOf(key) + half;
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.write(ev.slice(0, cut));
    await later(100);
    rs.end(ev.slice(cut));
  } else if (msg?.params?.name === "parts") {
    const parts = key.split(".");
    const ev = `event: message\ndata: ${answer({ content: [{ type: "text", text: parts.join("\n") }] })}\n\n`;
    const last = parts[parts.length - 1];
    const cut = ev.lastIndexOf(last) + Math.floor(last.length / 2);
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.write(ev.slice(0, cut));
    await later(100);
    rs.end(ev.slice(cut));
  } else if (msg?.params?.name === "log") {
    const text = before.map((b) => `Authorization: Bearer ${b}`).join("\n");
    const plain = msg.params.arguments?.as === "text";
    const ev = plain ? `${text}\n` : `event: message\ndata: ${answer({ content: [{ type: "text", text }] })}\n\n`;
    const last = before[before.length - 1] ?? "";
    const [h, pl] = last.split(".");
    const at = ev.lastIndexOf(last), where = msg.params.arguments?.cut;
    const cut = where === "head" ? at + Math.floor(h.length / 2)
              : where === "payload" ? at + h.length + 1 + Math.floor(pl.length / 2)
              : at + last.length - 5;
    rs.writeHead(200, { "Content-Type": plain ? "text/plain" : "text/event-stream" });
    rs.write(ev.slice(0, cut));
    await later(100);
    rs.end(ev.slice(cut));
  } else if (msg?.params?.name === "html") { // a page, as a careless or hostile upstream might answer
    rs.writeHead(200, { "Content-Type": "text/html" })
      .end("<html><script>fetch('/approvals').then(r => r.text()).then(alert)</script></html>");
  } else if (msg?.params?.name === "err") {
    const text = `bad key: ${key}\n`;
    rs.writeHead(500, { "Content-Type": "text/plain" });
    rs.write(text.slice(0, 9 + half));
    await later(100);
    rs.end(text.slice(9 + half));
  } else {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: msg?.id ?? null, error: { code: -32601, message: "no" } }));
  }
});
http.listen(0, "127.0.0.1", () => console.log(http.address().port));
