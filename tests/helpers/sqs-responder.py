#!/usr/bin/env python3
"""A local HTTP(S) responder for the SQS client's tests.

  sqs-responder.py PORTFILE MODE [UPSTREAM] [--tls CERT KEY]

Listens on a free loopback port and writes it to PORTFILE.  MODE:
  query-only  forwards Query/XML requests to UPSTREAM (moto_server) and
              answers JSON-protocol requests (X-Amz-Target) as a server that
              only knows the Query protocol does: HTTP 400 with an XML error
              (like the LocalStack image of the data-engineering take-home).
  empty       answers every SQS request with an empty JSON ReceiveMessage
              result, and serves temporary credentials as a container
              endpoint (GET /creds, Authorization: container-secret) and as
              EC2 instance metadata with IMDSv2 tokens; they expire
              --ttl SECONDS from now (default 3600), each answered
              --slow SECONDS late (default 0).
              It also plays STS: AssumeRole (signed) and
              AssumeRoleWithWebIdentity answer with fresh credentials,
              AKIDROLE<n> and AKIDWEB<n>, n counting the calls; a web
              identity token "bad" is refused (InvalidIdentityToken).
Each SQS request is logged to stderr as "<protocol> <action> <access key id>
<token|-)>", each credentials request as "creds <kind>", each STS call as
"sts <action> <signing key id|-> role=<arn> session=<name> external=<id|->
duration=<s|-> token=<web identity token|->".
"""
import http.server
import os
import ssl
import sys
import urllib.parse
import urllib.request

portfile, mode = sys.argv[1], sys.argv[2]
upstream = sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else None
tls = sys.argv[sys.argv.index("--tls") + 1:sys.argv.index("--tls") + 3] if "--tls" in sys.argv else None
ttl = int(sys.argv[sys.argv.index("--ttl") + 1]) if "--ttl" in sys.argv else 3600
slow = float(sys.argv[sys.argv.index("--slow") + 1]) if "--slow" in sys.argv else 0

sts_calls = 0

STS_ANSWER = ('<{0}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{0}Result>'
              '<Credentials><AccessKeyId>{1}</AccessKeyId><SecretAccessKey>s3cr3t-{1}</SecretAccessKey>'
              '<SessionToken>tok-{1}</SessionToken><Expiration>{2}</Expiration></Credentials>'
              '</{0}Result></{0}Response>')
STS_REFUSED = (b'<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>'
               b'<Message>the token is not valid</Message></Error></ErrorResponse>')

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

    def creds(self, kind, key):
        import datetime
        import json
        import time
        time.sleep(slow)
        sys.stderr.write("creds %s\n" % kind)
        sys.stderr.flush()
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
        self.reply(200, json.dumps({"Code": "Success", "AccessKeyId": key, "SecretAccessKey": "s3cr3t",
                                    "Token": "tok-" + kind,
                                    "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode(),
                   "application/json")

    def sts(self, action, form, signer):
        import datetime
        global sts_calls
        get = lambda k: form.get(k, ["-"])[0]
        sys.stderr.write("sts %s %s role=%s session=%s external=%s duration=%s token=%s\n" % (
            action, signer, get("RoleArn"), get("RoleSessionName"), get("ExternalId"),
            get("DurationSeconds"), get("WebIdentityToken")))
        sys.stderr.flush()
        if action == "AssumeRoleWithWebIdentity" and get("WebIdentityToken") == "bad":
            return self.reply(400, STS_REFUSED, "text/xml")
        sts_calls += 1
        key = ("AKIDROLE%d" if action == "AssumeRole" else "AKIDWEB%d") % sts_calls
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
        self.reply(200, STS_ANSWER.format(action, key, expires.strftime("%Y-%m-%dT%H:%M:%SZ")).encode(),
                   "text/xml")

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, b"imds-session-token", "text/plain")
        self.reply(403, b"", "text/plain")

    def do_GET(self):
        if self.path == "/creds":
            if self.headers.get("Authorization") != "container-secret":
                return self.reply(403, b"", "text/plain")
            return self.creds("container", "AKIDCONTAINER")
        if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
            return self.reply(401, b"", "text/plain")
        if self.path == "/latest/meta-data/iam/security-credentials/":
            return self.reply(200, b"role1", "text/plain")
        if self.path == "/latest/meta-data/iam/security-credentials/role1":
            return self.creds("imds", "AKIDIMDS")
        self.reply(404, b"", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target")
        auth = self.headers.get("Authorization", "")
        akid = auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else "?"
        token = "token" if self.headers.get("X-Amz-Security-Token") else "-"
        if target:
            sys.stderr.write("json %s %s %s\n" % (target.split(".")[-1], akid, token))
        else:
            form = urllib.parse.parse_qs(body.decode())
            action = form.get("Action", ["?"])[0]
            if action in ("AssumeRole", "AssumeRoleWithWebIdentity") and mode == "empty":
                return self.sts(action, form, akid if action == "AssumeRole" else "-")
            sys.stderr.write("query %s %s %s\n" % (action, akid, token))
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
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
