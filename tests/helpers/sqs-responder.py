#!/usr/bin/env python3
"""A local HTTP(S) responder for the SQS client's tests.

  sqs-responder.py PORTFILE MODE [UPSTREAM] [--tls CERT KEY]

Listens on a free loopback port and writes it to PORTFILE.  MODE:
  query-only  forwards Query/XML requests to UPSTREAM (moto_server) and
              answers JSON-protocol requests (X-Amz-Target) as a server that
              only knows the Query protocol does: HTTP 400 with an XML error
              (like the LocalStack image of the data-engineering take-home).
  empty       answers every request with an empty JSON ReceiveMessage result.
Each request is logged to stderr as "<protocol> <action>".
"""
import http.server
import ssl
import sys
import urllib.parse
import urllib.request

portfile, mode = sys.argv[1], sys.argv[2]
upstream = sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else None
tls = sys.argv[sys.argv.index("--tls") + 1:sys.argv.index("--tls") + 3] if "--tls" in sys.argv else None

UNKNOWN = (b'<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
           b'<Code>InvalidAction</Code><Message>The action or operation requested is invalid.'
           b'</Message></Error></ErrorResponse>')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target")
        if target:
            sys.stderr.write("json %s\n" % target.split(".")[-1])
        else:
            action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
            sys.stderr.write("query %s\n" % action)
        sys.stderr.flush()
        if mode == "empty":
            return self.reply(200, b"{}", "application/x-amz-json-1.0")
        if target:
            return self.reply(400, UNKNOWN, "text/xml")
        req = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                     headers={k: v for k, v in self.headers.items()
                                              if k.lower() not in ("host", "content-length")})
        try:
            with urllib.request.urlopen(req) as r:
                self.reply(r.status, r.read(), r.headers.get("Content-Type", "text/xml"))
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.read(), e.headers.get("Content-Type", "text/xml"))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
