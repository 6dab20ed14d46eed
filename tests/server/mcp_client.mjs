// mcp_client.mjs - the official MCP SDK client through Writ's gateway, for
// tests/server/mcp.sh.  Runs the steps given as arguments in one session
// and prints one JSON line per step:
//   node mcp_client.mjs URL TOKEN STEP...
// STEP: list                 tools/list -> {"step","tools":[names]}
//       resources            resources/list -> {"step","uris":[...]}
//       read:URI             resources/read -> {"step","ok","n"} or an error
//       call:TOOL:JSONARGS   tools/call -> {"step","ok":true,"text"} or
//                            {"step","ok":false,"code","message"}
//       progress:TOOL:JSONARGS  a call with a progress handler: the times (ms
//                            since the call) each progress arrived and the result's
//       wait:FILE            wait (<= 10 s) until FILE exists
//       touch:FILE           create FILE (tells the test a step is done)
//       sleep:MS
import { createRequire } from "node:module";
import { existsSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const req = createRequire(new URL("../peers/package.json", import.meta.url));
const sdk = (p) => import(pathToFileURL(req.resolve(`@modelcontextprotocol/sdk/${p}`)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");
const { McpError } = await sdk("types.js");

const [url, token, ...steps] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const client = new Client({ name: "writ-test", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
try {
  await client.connect(transport);
} catch (e) {
  out({ step: "connect", ok: false, code: e?.code ?? null, message: String(e?.message ?? e) });
  process.exit(0);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (const step of steps) {
  const [kind, tool, ...rest] = step.split(":");
  const args = kind === "read" ? {} : rest.length ? JSON.parse(rest.join(":")) : {};
  try {
    if (kind === "list") {
      const r = await client.listTools();
      out({ step, tools: r.tools.map((t) => t.name).sort() });
    } else if (kind === "resources") {
      const r = await client.listResources();
      out({ step, uris: r.resources.map((x) => x.uri).sort() });
    } else if (kind === "read") {
      const r = await client.readResource({ uri: [tool, ...rest].join(":") });
      out({ step, ok: true, n: r.contents.length });
    } else if (kind === "call") {
      const r = await client.callTool({ name: tool, arguments: args });
      out({ step, ok: !r.isError, text: r.content?.map((c) => c.text).join("") ?? "" });
    } else if (kind === "progress") {
      const t0 = Date.now();
      const seen = [];
      const r = await client.callTool({ name: tool, arguments: args }, undefined, {
        onprogress: (p) => seen.push(Date.now() - t0),
        timeout: 30000,
      });
      out({ step, ok: !r.isError, progress: seen, done: Date.now() - t0 });
    } else if (kind === "wait") {
      const f = [tool, ...rest].join(":");
      for (let i = 0; i < 100 && !existsSync(f); i++) await sleep(100);
      out({ step, ok: existsSync(f) });
    } else if (kind === "touch") {
      writeFileSync([tool, ...rest].join(":"), "");
      out({ step, ok: true });
    } else if (kind === "sleep") {
      await sleep(Number(tool));
      out({ step, ok: true });
    }
  } catch (e) {
    out({ step, ok: false, mcp: e instanceof McpError, code: e?.code ?? null, message: String(e?.message ?? e) });
  }
}
await client.close().catch(() => {});
process.exit(0);
