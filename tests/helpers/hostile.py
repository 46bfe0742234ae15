#!/usr/bin/env python3
"""The hostile-input corpus: message bodies, each with the outcome pii-mask
must give it ("row", or its reject reason).

  hostile.py envelopes   sqs-recv lines carrying the bodies (valid UTF-8 ones)
  hostile.py bare        the bodies as bare lines (those without a newline)
  hostile.py expected    name<TAB>outcome, for the envelopes, in order
  hostile.py sqs         bodies SQS itself accepts, JSON-escaped, one a line
  hostile.py doc         the corpus as a Markdown table (docs/reliability.md)
"""
import json
import sys

U = "424cdd21-063a-43a7-b91b-7ca1a833afae"


def login(**kw):
    d = {"user_id": U, "app_version": "2.3.0", "device_type": "android",
         "ip": "199.172.111.135", "locale": "RU", "device_id": "593-47-5928"}
    d.update(kw)
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


NEST = b'{"user_id":"u","x":' + b"[" * 100000 + b"]" * 100000 + b"}"
CORPUS = [
    ("valid sample", login(), "row"),
    ("unicode everywhere", login(user_id="ü-漢字-😀", locale="ру"), "row"),
    ("SQL in user_id", login(user_id="x'); DROP TABLE user_logins;--"), "row"),
    ("shell metacharacters", login(user_id="$(rm -rf /); `id` | & ; >x"), "row"),
    ("COPY metacharacters", login(user_id="a\tb\\Nc\\.d\re\nf"), "row"),
    ("control characters", login(user_id="a\u0001\u001fb"), "row"),
    ("unknown keys and nesting", login(extra={"a": [1, {"b": None}]}), "row"),
    ("null optional fields", login(ip=None, device_id=None, locale=None, device_type=None, app_version=None), "row"),
    ("missing optional fields", login(ip=..., device_id=..., locale=..., device_type=..., app_version=...), "row"),
    ("IPv6 address", login(ip="2001:DB8::1"), "row"),
    ("BOM before the body", b"\xef\xbb\xbf" + login(), "not JSON"),
    ("empty body", b"", "not JSON"),
    ("whitespace body", b"   ", "not JSON"),
    ("not JSON at all", b"hello, world", "not JSON"),
    ("truncated JSON", login()[:40], "not JSON"),
    ("two objects", login() + login(), "not JSON"),
    ("trailing garbage", login() + b" x", "not JSON"),
    ("JSON array", b"[1,2,3]", "not a JSON object"),
    ("JSON string", b'"just a string"', "not a JSON object"),
    ("JSON number", b"42", "not a JSON object"),
    ("JSON null", b"null", "not a JSON object"),
    ("invalid UTF-8", b'{"user_id":"\xff\xfe"}', "not valid UTF-8"),
    ("overlong UTF-8 slash", b'{"user_id":"\xc0\xaf"}', "not valid UTF-8"),
    ("UTF-8 surrogate", b'{"user_id":"\xed\xa0\x80"}', "not valid UTF-8"),
    ("above U+10FFFF", b'{"user_id":"\xf4\x90\x80\x80"}', "not valid UTF-8"),
    ("lone surrogate escape", b'{"user_id":"\\ud800"}', "escape leaves an unpaired surrogate"),
    ("invalid escape", b'{"user_id":"\\x41"}', "not JSON"),
    ("NUL escape in user_id", b'{"user_id":"a\\u0000b"}', "user_id: contains U+0000"),
    ("NUL escape in device_id", login(device_id="a\u0000b"), "device_id: contains U+0000"),
    ("duplicate user_id", b'{"user_id":"a","user_id":"b"}', "duplicated key"),
    ("duplicate unknown key", b'{"user_id":"a","x":1,"x":2}', "duplicated key"),
    ("deep nesting", NEST, "nested too deeply"),
    ("user_id missing", login(user_id=...), "user_id: missing"),
    ("user_id null", login(user_id=None), "user_id: null"),
    ("user_id integer", login(user_id=12345), "row"),
    ("user_id fraction", login(user_id=1.5), "user_id: not a string or an integer"),
    ("user_id object", login(user_id={"a": 1}), "user_id: not a string or an integer"),
    ("user_id empty", login(user_id=""), "user_id: empty string"),
    ("user_id too long", login(user_id="u" * 129), "user_id: longer than 128 characters"),
    ("locale too long", login(locale="é" * 33), "locale: longer than 32 characters"),
    ("ip not an address (masked as its text)", login(ip="999.1.1.1"), "row"),
    ("ip with zone (masked as its text)", login(ip="fe80::1%eth0"), "row"),
    ("ip a proxy chain (masked as its text)", login(ip="1.2.3.4, 10.0.0.1"), "row"),
    ("ip a number", login(ip=3232235777), "ip: not a string or null"),
    ("app_version a number", login(app_version=2.3), "app_version: not a string or null"),
    ("app_version v-prefixed", login(app_version="v2.3.0"), "app_version: not MAJOR[.MINOR[.PATCH]] within 2146.999.999"),
    ("app_version huge", login(app_version="99999999999999999999.1"), "app_version: not MAJOR[.MINOR[.PATCH]] within 2146.999.999"),
    ("huge number field", login(extra=10 ** 400), "row"),
    ("device_type boolean", login(device_type=True), "device_type: not a string or null"),
    ("body over 1 MiB", login(pad="p" * (1024 * 1024)), "body longer than 1 MiB"),
]


def ok_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def envelopes():
    for i, (name, body, _) in enumerate(CORPUS):
        if ok_utf8(body):
            yield name, json.dumps({"message_id": "h%02d" % i, "receipt_handle": "rh-h%02d" % i,
                                    "body": body.decode(), "sent_timestamp": 1700000000000,
                                    "receive_count": 1}, separators=(",", ":"))


def sqs_ok(body):
    """SQS refuses U+0000-U+0008 and the like, and bodies over its limit."""
    if not ok_utf8(body) or len(body) == 0 or len(body) > 1024 * 1024:
        return False
    return all(c in "\t\n\r" or ord(c) >= 0x20 for c in body.decode())


mode = sys.argv[1]
out = sys.stdout
if mode == "envelopes":
    for _, line in envelopes():
        out.write(line + "\n")
elif mode == "expected":
    names = {name: outcome for name, _, outcome in CORPUS}
    for name, _ in envelopes():
        out.write("%s\t%s\n" % (name, names[name]))
elif mode == "bare":
    for name, body, outcome in CORPUS:
        if b"\n" not in body and b"\r" not in body:
            sys.stdout.buffer.write(body + b"\n")
elif mode == "bare-expected":
    for name, body, outcome in CORPUS:
        if b"\n" not in body and b"\r" not in body:
            out.write("%s\t%s\n" % (name, outcome))
elif mode == "sqs":
    for name, body, outcome in CORPUS:
        if sqs_ok(body):
            out.write(json.dumps({"name": name, "body": body.decode(), "outcome": outcome}) + "\n")
elif mode == "doc":
    out.write("| # | input | outcome |\n| --- | --- | --- |\n")
    for i, (name, _, outcome) in enumerate(CORPUS, 1):
        out.write("| %d | %s | %s |\n" % (i, name, "stored" if outcome == "row" else "rejected: `%s`" % outcome))
