// upstream.mjs - the MCP benchmarks' upstream: a minimal Streamable HTTP MCP
// server answering tools/list with one tool ("add", read-only) and every other
// JSON-RPC request with a fixed tools/call result (application/json,
// keep-alive), so that what a benchmark measures is the gateway in front of it.
// Prints the port it listens on (127.0.0.1, any port).
import http from "node:http";

const answer = (id) => JSON.stringify({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "3" }] } });
// its one listed tool (the gateway asks for the list when a call names a tool it has not seen listed)
const list = (id) => JSON.stringify({ jsonrpc: "2.0", id, result: { tools: [
    { name: "add", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }] } });
const server = http.createServer((rq, rs) => {
    let body = "";
    rq.on("data", (c) => (body += c)).on("end", () => {
        let id = null, method = null;
        try {
            ({ id, method } = JSON.parse(body));
        } catch {}
        const out = method === "tools/list" ? list(id) : answer(id);
        rs.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(out) });
        rs.end(out);
    });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
