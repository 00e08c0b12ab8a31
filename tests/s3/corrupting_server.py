"""A deliberately broken S3 test double for `kintsugi bench`'s verifier.

It accepts any request (no auth), keeps PUT bodies in memory, and on GET
returns the stored bytes with one byte flipped. It prints `PORT <n>` once
listening on 127.0.0.1. The subject under test is the bench's byte checking,
not this server.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STORE = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        STORE[self.path] = body
        self._reply(200, b"", {"ETag": '"00000000000000000000000000000000"'})

    def do_GET(self):
        body = STORE.get(self.path.split("?")[0])
        if body is None:
            self._reply(404, b"<Error><Code>NoSuchKey</Code><Message>no</Message></Error>")
            return
        bad = bytearray(body)
        if bad:
            bad[len(bad) // 2] ^= 0xFF
        self._reply(200, bytes(bad), {"ETag": '"x"'})

    def do_DELETE(self):
        STORE.pop(self.path, None)
        self._reply(204)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
