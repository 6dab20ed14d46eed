// flow_client.mjs - MCP clients for tests/server/mcp_flow.sh: ones that do
// not read their answers, and one that reads a large answer whole.
//   node flow_client.mjs hold URL TOKEN N
//        N tools/call "big" (64 MiB each) at once, none of them read after
//        its headers: prints "open STATUS" for each answer begun and "ended"
//        for each the other side ended; runs until killed.
//   node flow_client.mjs read URL TOKEN TOOL ARGS_JSON DELAY_MS [OUT]
//        one tools/call, its answer left unread DELAY_MS after its headers,
//        then read whole: prints {status, bytes, sha256, whole} (whole: it
//        ended cleanly); the body to OUT when given.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request } from "node:http";

const [mode, url, token, ...rest] = process.argv.slice(2);
const later = (ms) => new Promise((r) => setTimeout(r, ms));

function call(id, tool, args, onResponse) {
  const body = JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: args } });
  const rq = request(url, {
    method: "POST",
    agent: false,
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream",
               Authorization: `Bearer ${token}`, "Content-Length": Buffer.byteLength(body) },
  }, onResponse);
  rq.on("error", (e) => console.log(`error ${e.message}`));
  rq.end(body);
}

if (mode === "hold") {
  const n = Number(rest[0]);
  for (let i = 0; i < n; i++)
    call(i + 1, "big", { mb: 64 }, (res) => {
      res.pause();
      console.log(`open ${res.statusCode}`);
      res.socket.on("close", () => console.log("ended"));
    });
  setInterval(() => {}, 1000);
} else if (mode === "read") {
  const [tool, args, delay, out] = rest;
  call(1, tool, JSON.parse(args), async (res) => {
    // The listeners first, the answer paused: one the server cuts at once
    // may close while the delay runs, and a "close" nobody listened for
    // ended the client without a word (no data flows until resume()).
    res.pause();
    const h = createHash("sha256");
    const keep = out ? [] : null;
    let bytes = 0, whole = false;
    res.on("data", (c) => { h.update(c); bytes += c.length; if (keep) keep.push(c); });
    res.on("end", () => { whole = res.complete; });
    res.on("close", () => {
      if (out) writeFileSync(out, Buffer.concat(keep));
      console.log(JSON.stringify({ status: res.statusCode, bytes, sha256: h.digest("hex"), whole }));
    });
    await later(Number(delay));
    res.resume();
  });
}
