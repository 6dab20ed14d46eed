// bad_upstream.mjs - an MCP upstream that misbehaves on purpose, for
// tests/server/mcp.sh.  A tools/call of tool:
//   garbage  200 application/json, a body that is not JSON-RPC
//   close    200 application/json, Content-Length 1000, 10 bytes, then the socket is closed
//   sseclose 200 text/event-stream, one event, then the socket is closed
//   sselist  200 text/event-stream, one event whose result holds a tools list (key escaped)
//   hang     nothing, ever
//   big      200 application/json, a result whose text is arguments.n bytes (not listed)
// initialize is answered (tools only), notifications get a 202, a GET a 405, and
// tools/list comes as SSE written unusually but validly: a byte order mark, lone
// CR line endings, a comment, a priming event with empty data, the answer's JSON
// split over two data lines; tools "garbage", "secret", "resources/read" and the
// misbehaving ones below (at /mcp).  At /nul and /utf
// tools/list is JSON with an escaped NUL in it (/nul), or one SSE event whose
// JSON has a byte that is not UTF-8 (/utf), or plain JSON with status 203 (/s203).
// Anything else: a JSON-RPC error.  Prints its port.  PORT=N node bad_upstream.mjs
import { createServer } from "node:http";

const http = createServer(async (rq, rs) => {
  if (rq.method !== "POST") return rs.writeHead(405).end();
  let body = "";
  for await (const c of rq) body += c;
  let msg = {};
  try { msg = JSON.parse(body); } catch { /* below */ }
  const tool = msg?.params?.name;
  if (msg?.method === "initialize") {
    rs.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({
      jsonrpc: "2.0", id: msg.id,
      result: { protocolVersion: msg.params?.protocolVersion ?? "2025-11-25", capabilities: { tools: {} },
                serverInfo: { name: "bad", version: "1.0.0" } } }));
  } else if (msg?.method?.startsWith("notifications/")) {
    rs.writeHead(202).end();
  } else if (msg?.method === "tools/list" && rq.url !== "/mcp") {
    // at /nul a description holds an escaped NUL; at /utf one holds a byte
    // that is not UTF-8 (a client's parser reads both; so must the filter)
    const tools = ["garbage", "secret"].map((name) => ({ name, description: "x@y", inputSchema: { type: "object" } }));
    const parts = JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: { tools } }).split("@");
    const mid = rq.url === "/nul" ? Buffer.from("\\u0000") : Buffer.from([0xff]);
    const json = Buffer.concat(parts.flatMap((p, i) => (i ? [mid, Buffer.from(p)] : [Buffer.from(p)])));
    if (rq.url === "/nul") return rs.writeHead(200, { "Content-Type": "application/json" }).end(json);
    // at /s203 a plain list, answered 203 (a 2xx other than 200)
    if (rq.url === "/s203") return rs.writeHead(203, { "Content-Type": "application/json" }).end(parts.join(""));
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.end(Buffer.concat([Buffer.from("event: message\ndata: "), json, Buffer.from("\n\n")]));
  } else if (msg?.method === "tools/list") {
    // "resources/read" as a tool name would share the method's action
    const tools = ["garbage", "secret", "resources/read", "close", "sseclose", "hang", "sselist"].map((name) => ({ name, inputSchema: { type: "object" } }));
    const json = JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: { tools } });
    const cut = json.indexOf('"result"');
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.end("\uFEFF: odd but valid\rid: p1\rdata:\r\r" +
           `event: message\rdata: ${json.slice(0, cut)}\rdata:${json.slice(cut)}\r\r`);
  } else if (tool === "garbage") {
    rs.writeHead(200, { "Content-Type": "application/json" }).end("<html>surprise</html>");
  } else if (tool === "close") {
    rs.writeHead(200, { "Content-Type": "application/json", "Content-Length": "1000" });
    rs.write('{"jsonrpc"');
    setTimeout(() => rs.socket.destroy(), 100);
  } else if (tool === "sseclose") {
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n');
    setTimeout(() => rs.socket.destroy(), 100);
  } else if (tool === "sselist") {
    // a streamed answer holding a list, its key escaped ("t\u006fols"): filtered all the same,
    // and not taken for the tools' annotations (hang is not destructive: /mcp's tools/list)
    rs.writeHead(200, { "Content-Type": "text/event-stream" });
    rs.end('event: message\ndata: {"jsonrpc":"2.0","id":' + JSON.stringify(msg.id) +
           ',"result":{"t\\u006fols":[{"name":"garbage"},{"name":"secret"},' +
           '{"name":"hang","annotations":{"destructiveHint":true}}],"content":[]}}\n\n');
  } else if (tool === "big") {
    const text = "x".repeat(Number(msg.params.arguments?.n ?? 0));
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: { content: [{ type: "text", text }] } }));
  } else if (tool === "hang") {
    /* never answers */
  } else {
    rs.writeHead(200, { "Content-Type": "application/json" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: msg?.id ?? null, error: { code: -32601, message: "no" } }));
  }
});
http.listen(Number(process.env.PORT || 0), "127.0.0.1", () => console.log(http.address().port));
