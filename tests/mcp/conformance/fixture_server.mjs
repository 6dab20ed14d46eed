// fixture_server.mjs - the MCP server that the conformance suite's server
// scenarios (@modelcontextprotocol/conformance, `conformance server`) expect
// to find: tools, resources, prompts and completions with the names and
// contents the scenarios check, written with the official SDK's low-level
// Server (so that tool input schemas go out exactly as written, $defs and
// all) over Streamable HTTP with sessions and an event store (resumable SSE).
//
//   PORT=N node fixture_server.mjs      prints the port it listens on
//
// Listens on 127.0.0.1 only and refuses a Host or Origin that is not
// loopback (DNS-rebinding protection, checked by dns-rebinding-protection).
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const req = createRequire(new URL("../../peers/package.json", import.meta.url));
const sdk = (p) => import(pathToFileURL(req.resolve(`@modelcontextprotocol/sdk/${p}`)).href);
const { Server } = await sdk("server/index.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const T = await sdk("types.js");

const port = Number(process.env.PORT || 0);
const MAX_BODY = 4 << 20;

// A 1x1 red pixel PNG (IHDR 1x1 RGB, one filtered scanline ff 00 00).
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

// 10 ms of 8-bit mono silence at 8 kHz as a RIFF/WAVE file.
function wav() {
  const n = 80, b = Buffer.alloc(44 + n, 0x80);
  b.write("RIFF", 0); b.writeUInt32LE(36 + n, 4); b.write("WAVE", 8);
  b.write("fmt ", 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24); b.writeUInt32LE(8000, 28); b.writeUInt16LE(1, 32); b.writeUInt16LE(8, 34);
  b.write("data", 36); b.writeUInt32LE(n, 40);
  return b.toString("base64");
}
const WAV = wav();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ type: "text", text: t });
const noArgs = { type: "object", properties: {} };

const TOOLS = [
  { name: "test_simple_text", description: "Returns one text item", inputSchema: noArgs },
  { name: "test_image_content", description: "Returns a PNG image", inputSchema: noArgs },
  { name: "test_audio_content", description: "Returns a WAV clip", inputSchema: noArgs },
  { name: "test_embedded_resource", description: "Returns an embedded text resource", inputSchema: noArgs },
  { name: "test_multiple_content_types", description: "Returns text, image and resource", inputSchema: noArgs },
  { name: "test_tool_with_logging", description: "Logs three messages while it runs", inputSchema: noArgs },
  { name: "test_tool_with_progress", description: "Reports progress 0, 50, 100 of 100", inputSchema: noArgs },
  { name: "test_error_handling", description: "Always fails with isError", inputSchema: noArgs },
  { name: "test_sampling", description: "Asks the client's LLM (sampling/createMessage)",
    inputSchema: { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] } },
  { name: "test_elicitation", description: "Asks the user (elicitation/create)",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] } },
  { name: "test_elicitation_sep1034_defaults", description: "Elicitation with defaults for every primitive type",
    inputSchema: noArgs },
  { name: "test_elicitation_sep1330_enums", description: "Elicitation with the five enum forms",
    inputSchema: noArgs },
  { name: "json_schema_2020_12_tool", description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    } },
  { name: "test_reconnection", description: "Closes its SSE stream mid-call; the result comes on resume",
    inputSchema: noArgs },
];

const RESOURCES = [
  { uri: "test://static-text", name: "static-text", description: "A static text resource", mimeType: "text/plain" },
  { uri: "test://static-binary", name: "static-binary", description: "A static PNG", mimeType: "image/png" },
  { uri: "test://watched-resource", name: "watched-resource", description: "A resource one can subscribe to",
    mimeType: "text/plain" },
];
const TEMPLATES = [
  { uriTemplate: "test://template/{id}/data", name: "template-data", description: "Data for an id",
    mimeType: "application/json" },
];
const PROMPTS = [
  { name: "test_simple_prompt", description: "A prompt without arguments" },
  { name: "test_prompt_with_arguments", description: "A prompt with two arguments",
    arguments: [{ name: "arg1", description: "first", required: true },
                { name: "arg2", description: "second", required: true }] },
  { name: "test_prompt_with_embedded_resource", description: "A prompt embedding a resource",
    arguments: [{ name: "resourceUri", description: "the resource to embed", required: true }] },
  { name: "test_prompt_with_image", description: "A prompt with an image" },
];
const COMPLETIONS = { arg1: ["paris", "park", "party", "test", "testValue1"], arg2: ["testValue2", "two"] };

function readResource(uri) {
  if (uri === "test://static-text")
    return { uri, mimeType: "text/plain", text: "This is the content of the static text resource." };
  if (uri === "test://static-binary") return { uri, mimeType: "image/png", blob: PNG };
  if (uri === "test://watched-resource") return { uri, mimeType: "text/plain", text: "Watched resource content." };
  const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
  if (m)
    return { uri, mimeType: "application/json",
             text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) };
  return null;
}

function build(transportOf) {
  const s = new Server({ name: "writ-conformance-fixture", version: "1.0.0" },
    { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} } });

  s.setRequestHandler(T.ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  s.setRequestHandler(T.CallToolRequestSchema, async (r, extra) => {
    const { name, arguments: args = {} } = r.params;
    const log = async (data) => {
      if (!s.isMessageIgnored("info", extra.sessionId))
        await extra.sendNotification({ method: "notifications/message",
                                       params: { level: "info", logger: "fixture", data } });
    };
    const elicit = (params) => extra.sendRequest({ method: "elicitation/create", params }, T.ElicitResultSchema);
    switch (name) {
      case "test_simple_text":
        return { content: [text("This is a simple text response for testing.")] };
      case "test_image_content":
        return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return { content: [{ type: "resource", resource: { uri: "test://embedded-resource", mimeType: "text/plain",
                                                              text: "This is an embedded resource content." } }] };
      case "test_multiple_content_types":
        return { content: [text("Multiple content types test:"),
                           { type: "image", data: PNG, mimeType: "image/png" },
                           { type: "resource", resource: { uri: "test://mixed-content-resource",
                                                            mimeType: "application/json",
                                                            text: JSON.stringify({ test: "data", value: 123 }) } }] };
      case "test_tool_with_logging":
        await log("Tool execution started");
        await sleep(50);
        await log("Tool processing data");
        await sleep(50);
        await log("Tool execution completed");
        return { content: [text("Tool with logging executed successfully")] };
      case "test_tool_with_progress": {
        const token = r.params._meta?.progressToken;
        for (const p of [0, 50, 100]) {
          if (token !== undefined)
            await extra.sendNotification({ method: "notifications/progress",
                                           params: { progressToken: token, progress: p, total: 100 } });
          if (p < 100) await sleep(50);
        }
        return { content: [text("Tool with progress executed successfully")] };
      }
      case "test_error_handling":
        return { isError: true, content: [text("This tool intentionally returns an error for testing")] };
      case "test_sampling": {
        const res = await extra.sendRequest({ method: "sampling/createMessage", params: {
          messages: [{ role: "user", content: text(String(args.prompt ?? "")) }], maxTokens: 100 } },
          T.CreateMessageResultSchema);
        const said = res.content?.type === "text" ? res.content.text : JSON.stringify(res.content);
        return { content: [text(`LLM response: ${said}`)] };
      }
      case "test_elicitation": {
        const res = await elicit({ message: String(args.message ?? ""), requestedSchema: { type: "object",
          properties: { username: { type: "string", description: "User's response" },
                        email: { type: "string", description: "User's email address" } },
          required: ["username", "email"] } });
        return { content: [text(`User response: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`)] };
      }
      case "test_elicitation_sep1034_defaults": {
        const res = await elicit({ message: "Please review your details", requestedSchema: { type: "object",
          properties: {
            name: { type: "string", default: "John Doe" },
            age: { type: "integer", default: 30 },
            score: { type: "number", default: 95.5 },
            status: { type: "string", enum: ["active", "inactive", "pending"], default: "active" },
            verified: { type: "boolean", default: true },
          } } });
        return { content: [text(`Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`)] };
      }
      case "test_elicitation_sep1330_enums": {
        const res = await elicit({ message: "Pick some options", requestedSchema: { type: "object",
          properties: {
            untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
            titledSingle: { type: "string", oneOf: [{ const: "value1", title: "First Option" },
                                                    { const: "value2", title: "Second Option" },
                                                    { const: "value3", title: "Third Option" }] },
            legacyEnum: { type: "string", enum: ["opt1", "opt2", "opt3"],
                          enumNames: ["Option One", "Option Two", "Option Three"] },
            untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
            titledMulti: { type: "array", items: { anyOf: [{ const: "value1", title: "First Choice" },
                                                           { const: "value2", title: "Second Choice" },
                                                           { const: "value3", title: "Third Choice" }] } },
          } } });
        return { content: [text(`Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`)] };
      }
      case "json_schema_2020_12_tool":
        return { content: [text(`Received: ${JSON.stringify(args)}`)] };
      case "test_reconnection": {
        // SEP-1699 polling: one event (so the client holds a Last-Event-ID),
        // then the server closes the POST stream; the result is stored in
        // the event store and replayed when the client comes back with GET.
        await extra.sendNotification({ method: "notifications/message",
                                       params: { level: "info", logger: "fixture", data: "closing the stream" } });
        await sleep(50);
        transportOf().closeSSEStream(extra.requestId);
        await sleep(300);
        return { content: [text("Reconnection test completed successfully")] };
      }
      default:
        throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  });

  s.setRequestHandler(T.ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  s.setRequestHandler(T.ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: TEMPLATES }));
  s.setRequestHandler(T.ReadResourceRequestSchema, async (r) => {
    const c = readResource(r.params.uri);
    if (!c) throw new T.McpError(-32002, `Resource not found: ${r.params.uri}`);
    return { contents: [c] };
  });
  s.setRequestHandler(T.SubscribeRequestSchema, async () => ({}));
  s.setRequestHandler(T.UnsubscribeRequestSchema, async () => ({}));

  s.setRequestHandler(T.ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  s.setRequestHandler(T.GetPromptRequestSchema, async (r) => {
    const a = r.params.arguments ?? {};
    switch (r.params.name) {
      case "test_simple_prompt":
        return { messages: [{ role: "user", content: text("This is a simple prompt for testing.") }] };
      case "test_prompt_with_arguments":
        return { messages: [{ role: "user",
                              content: text(`Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'`) }] };
      case "test_prompt_with_embedded_resource":
        return { messages: [
          { role: "user", content: { type: "resource", resource: { uri: String(a.resourceUri ?? ""),
              mimeType: "text/plain", text: "Embedded resource content for testing." } } },
          { role: "user", content: text("Please process the embedded resource above.") }] };
      case "test_prompt_with_image":
        return { messages: [{ role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
                            { role: "user", content: text("Please analyze the image above.") }] };
      default:
        throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown prompt: ${r.params.name}`);
    }
  });

  s.setRequestHandler(T.CompleteRequestSchema, async (r) => {
    const all = COMPLETIONS[r.params.argument.name] ?? [];
    const values = all.filter((v) => v.startsWith(r.params.argument.value ?? ""));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return s;
}

// The event store behind resumable SSE: every event the transport sends is
// kept per stream, ids are "<stream>_<n>", and a replay sends the events of
// the same stream after the given id.
class Events {
  constructor() { this.streams = new Map(); this.n = 0; }
  async storeEvent(stream, message) {
    const id = `${stream}_${++this.n}`;
    if (!this.streams.has(stream)) this.streams.set(stream, []);
    this.streams.get(stream).push({ id, message });
    return id;
  }
  async getStreamIdForEventId(id) {
    const cut = id.lastIndexOf("_");
    return cut > 0 && this.streams.has(id.slice(0, cut)) ? id.slice(0, cut) : undefined;
  }
  async replayEventsAfter(last, { send }) {
    const stream = await this.getStreamIdForEventId(last);
    if (!stream) return "";
    const list = this.streams.get(stream);
    for (const e of list.slice(list.findIndex((x) => x.id === last) + 1)) await send(e.id, e.message);
    return stream;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;
function loopbackOrigin(o) {
  try { return LOOPBACK.test(new URL(o).host); } catch { return false; }
}

const sessions = new Map(); // session id -> transport
function reply(rs, status, msg) {
  rs.writeHead(status, { "Content-Type": "application/json" });
  rs.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: msg }, id: null }));
}

const http = createServer(async (rq, rs) => {
  if (new URL(rq.url, "http://x").pathname !== "/mcp") return reply(rs, 404, "not found");
  if (!LOOPBACK.test(rq.headers.host ?? "") || (rq.headers.origin && !loopbackOrigin(rq.headers.origin)))
    return reply(rs, 403, "Host or Origin not allowed");
  let body;
  if (rq.method === "POST") {
    let raw = "";
    for await (const c of rq) {
      raw += c;
      if (raw.length > MAX_BODY) return reply(rs, 413, "body too large");
    }
    try { body = JSON.parse(raw); } catch { return reply(rs, 400, "Parse error"); }
  }
  const sid = rq.headers["mcp-session-id"];
  let t = sid ? sessions.get(sid) : undefined;
  if (!t) {
    if (sid) return reply(rs, 404, "Session not found");
    if (rq.method !== "POST" || !T.isInitializeRequest(body)) return reply(rs, 400, "No session: initialize first");
    t = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new Events(),
      retryInterval: 500,
      onsessioninitialized: (id) => sessions.set(id, t),
    });
    t.onclose = () => { if (t.sessionId) sessions.delete(t.sessionId); };
    const tt = t;
    await build(() => tt).connect(t);
  }
  await t.handleRequest(rq, rs, body);
});
http.listen(port, "127.0.0.1", () => console.log(http.address().port));
