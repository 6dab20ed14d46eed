// session_upstream.mjs - a stateful MCP server (the official SDK, Streamable
// HTTP with sessions, JSON answers rather than SSE) whose tools/list takes
// LIST_DELAY_MS (as a server listing from a database or a directory would),
// for tests/server/mcp_attack.sh.  Tools: add {a, b} (read-only), slow {ms}
// (read-only, answers ms later) and wipe (destructive).  Prints its port.
//   [LIST_DELAY_MS=N] node session_upstream.mjs
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const req = createRequire(new URL("../peers/package.json", import.meta.url));
const sdk = (p) => import(pathToFileURL(req.resolve(`@modelcontextprotocol/sdk/${p}`)).href);
const { McpServer } = await sdk("server/mcp.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const { z } = await import(pathToFileURL(req.resolve("zod")).href);

const LIST_DELAY_MS = Number(process.env.LIST_DELAY_MS || 0);
const sessions = new Map();

function build() {
  const s = new McpServer({ name: "session-upstream", version: "1.0.0" });
  s.registerTool("add", { description: "a + b", inputSchema: { a: z.number(), b: z.number() },
                          annotations: { readOnlyHint: true } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }));
  s.registerTool("slow", { description: "answers ms later", inputSchema: { ms: z.number() },
                           annotations: { readOnlyHint: true } },
    async ({ ms }) => { await new Promise((r) => setTimeout(r, ms)); return { content: [{ type: "text", text: "slept" }] }; });
  s.registerTool("wipe", { description: "destructive", inputSchema: {}, annotations: { destructiveHint: true } },
    async () => ({ content: [{ type: "text", text: "wiped" }] }));
  // tools/list answered LIST_DELAY_MS later, from inside the server
  const list = s.server._requestHandlers.get("tools/list");
  s.server._requestHandlers.set("tools/list", async (...a) => {
    await new Promise((r) => setTimeout(r, LIST_DELAY_MS));
    return list(...a);
  });
  return s;
}

const http = createServer(async (rq, rs) => {
  let body = "";
  for await (const c of rq) body += c;
  let msg = null;
  try { msg = body ? JSON.parse(body) : undefined; } catch { /* left to the transport */ }
  const sid = rq.headers["mcp-session-id"];
  let t = sid && sessions.get(sid);
  if (!t) {
    t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse: true,
                                            onsessioninitialized: (id) => sessions.set(id, t) });
    await build().connect(t);
  }
  await t.handleRequest(rq, rs, msg);
});
http.listen(0, "127.0.0.1", () => console.log(http.address().port));
