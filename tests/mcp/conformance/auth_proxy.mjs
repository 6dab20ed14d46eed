// auth_proxy.mjs - a small HTTP proxy that adds "Authorization: Bearer TOKEN"
// to every request and otherwise passes requests and answers through as they
// come (bodies streamed both ways, so SSE events arrive one by one).  The
// conformance suite's client cannot send headers, and Writ's MCP gateway
// requires a task token: the suite talks to this proxy, the proxy to Writ.
// Host and Origin are passed unchanged, so that Writ sees what the suite sent
// (dns-rebinding-protection depends on it).
//
//   TARGET=127.0.0.1:8180 TOKEN=... node auth_proxy.mjs    prints its port
import { createServer, request } from "node:http";

const target = process.env.TARGET;
const token = process.env.TOKEN;
if (!target || !token) {
  console.error("usage: TARGET=host:port TOKEN=jwt node auth_proxy.mjs");
  process.exit(2);
}
const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];

const server = createServer((rq, rs) => {
  const headers = { ...rq.headers, authorization: `Bearer ${token}` };
  const up = request({ host, port, method: rq.method, path: rq.url, headers }, (ur) => {
    rs.writeHead(ur.statusCode, ur.statusMessage, ur.headers);
    rs.flushHeaders();
    ur.pipe(rs);
    ur.on("error", () => rs.destroy());
  });
  up.on("error", (e) => {
    if (!rs.headersSent) rs.writeHead(502, { "Content-Type": "text/plain" });
    rs.end(`proxy: ${e.message}\n`);
  });
  // the client went away (e.g. it cancelled an SSE stream): so does the proxy
  rs.on("close", () => { if (!rs.writableFinished) up.destroy(); });
  rq.pipe(up);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
