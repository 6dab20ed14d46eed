#!/usr/bin/env python3
"""http_upstream.py - a small HTTP server standing in for an MCP upstream in
tests/unit/test_mcp_upstream.c.  Listens on 127.0.0.1 (a free port), prints
the port on its first line, serves until killed.

  /json   JSON answer echoing the method, the request headers and the body,
          and the client's port (peer_port: which connection it came on)
          (answer headers: Mcp-Session-Id: s-123, MCP-Protocol-Version)
  /sse    text/event-stream, chunked: a priming event with empty data, then
          three events 300 ms apart
  /hang   headers, then nothing for 30 s;  /hang_head: nothing at all
  /close  Content-Length 1000, 10 bytes, then the connection is closed
  /404    404 with a small JSON body
  /redirect  302 to /json (must not be followed)
  /big    200 with 100000 bytes
"""
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # the head and the body are two writes: without this the body waits for
    # the client's delayed ACK (Nagle), tens of ms, as no real server does
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def _send(self, status, ctype, data, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def handle_any(self):
        body = self._body()
        path = self.path
        if path == "/json":
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            ans = {"jsonrpc": "2.0", "id": 1,
                   "result": {"method": self.command, "headers": hdrs, "body": body,
                              "peer_port": self.client_address[1]}}
            self._send(200, "application/json", json.dumps(ans).encode(),
                       [("Mcp-Session-Id", "s-123"), ("MCP-Protocol-Version", "2025-11-25")])
        elif path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Mcp-Session-Id", "s-sse")
            self.end_headers()
            self._chunk(b"id: p0\ndata:\n\n")
            for i in range(3):
                time.sleep(0.3)
                self._chunk(b"event: message\ndata: {\"n\":%d}\n\n" % i)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        elif path == "/hang":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(30)
        elif path == "/hang_head":
            time.sleep(30)
        elif path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"{\"partial\"")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif path == "/redirect":
            self._send(302, "text/plain", b"moved", [("Location", "/json")])
        elif path == "/404":
            self._send(404, "application/json", b"{\"error\":\"no such endpoint\"}")
        elif path == "/big":
            self._send(200, "application/json", b"[" + b"1," * 49999 + b"1]")
        else:
            self._send(400, "text/plain", b"unknown path")

    do_POST = handle_any
    do_GET = handle_any
    do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The client cutting a stream (cancel, too large, timeout) is expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
