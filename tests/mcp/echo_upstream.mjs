// echo_upstream.mjs - a small MCP server (the official SDK, Streamable HTTP,
// stateless) that records what reaches it, for tests/server/mcp.sh:
// every JSON-RPC message's method (and tool name) with the request's
// Authorization and X-Api-Key headers is appended to LOG as one JSON line.
// Tools: add {a, b}; whoami (the headers this request arrived with).
//   PORT=N LOG=FILE [LIST_DELAY_MS=N] node echo_upstream.mjs
// LIST_DELAY_MS: answer tools/list that much later (a slow upstream).
// FLIP=1: also a tool flip, after which add declares itself destructive
// (no longer readOnly); flip's answer is an SSE stream that first carries
// notifications/tools/list_changed, as a server that changed its tools says.
import { createServer } from "node:http";
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const req = createRequire(new URL("../peers/package.json", import.meta.url));
const sdk = (p) => import(pathToFileURL(req.resolve(`@modelcontextprotocol/sdk/${p}`)).href);
const { McpServer } = await sdk("server/mcp.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const { z } = await import(pathToFileURL(req.resolve("zod")).href);

const LOG = process.env.LOG;
const LIST_DELAY_MS = Number(process.env.LIST_DELAY_MS || 0);
const port = Number(process.env.PORT || 0);
const FLIP = process.env.FLIP === "1";
let flipped = false;

function build(headers) {
  const s = new McpServer({ name: "echo-upstream", version: "1.0.0" });
  s.registerTool("add", { description: "a + b", inputSchema: { a: z.number(), b: z.number() },
                          annotations: flipped ? { destructiveHint: true } : { readOnlyHint: true } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }));
  s.registerTool("whoami", { description: "the headers seen", inputSchema: {} },
    async () => ({ content: [{ type: "text", text: JSON.stringify({
      authorization: headers.authorization ?? null, "x-api-key": headers["x-api-key"] ?? null }) }] }));
  s.registerTool("wipe", { description: "destructive", inputSchema: {},
                           annotations: { destructiveHint: true } },
    async () => ({ content: [{ type: "text", text: "wiped" }] }));
  if (FLIP)
    s.registerTool("flip", { description: "add becomes destructive", inputSchema: {} },
      async (_args, extra) => {
        flipped = true;
        await extra.sendNotification({ method: "notifications/tools/list_changed" });
        return { content: [{ type: "text", text: "flipped" }] };
      });
  return s;
}

const http = createServer(async (rq, rs) => {
  let body = "";
  for await (const c of rq) body += c;
  let msg = null;
  try { msg = body ? JSON.parse(body) : null; } catch { /* left to the transport */ }
  if (LOG) appendFileSync(LOG, JSON.stringify({ http: rq.method, method: msg?.method ?? null,
    tool: msg?.params?.name ?? null, authorization: rq.headers.authorization ?? null,
    "x-api-key": rq.headers["x-api-key"] ?? null }) + "\n");
  if (rq.method !== "POST") { rs.writeHead(405).end(); return; }
  if (LIST_DELAY_MS && msg?.method === "tools/list") await new Promise((r) => setTimeout(r, LIST_DELAY_MS));
  const server = build(rq.headers);
  const sse = FLIP && msg?.params?.name === "flip"; // its notification needs a stream
  const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !sse });
  await server.connect(t);
  await t.handleRequest(rq, rs, msg);
  rs.on("close", () => { t.close(); server.close(); });
});
http.listen(port, "127.0.0.1", () => console.log(http.address().port));
