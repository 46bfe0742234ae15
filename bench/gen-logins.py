#!/usr/bin/env python3
"""gen-logins.py N [bare]: N typical sqs-recv lines (or bare bodies) on stdout.

Deterministic (fixed seed) so every run measures the same input: about a
third of the logins have a null locale and a few repeat ip and device_id,
as on the take-home queue.
"""
import json
import random
import sys

n = int(sys.argv[1])
bare = len(sys.argv) > 2 and sys.argv[2] == "bare"
rnd = random.Random(42)
out = sys.stdout
t0 = 1700000000000
for i in range(n):
    body = {
        "user_id": "%08x-%04x-4%03x-a%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                                    rnd.getrandbits(12), rnd.getrandbits(12),
                                                    rnd.getrandbits(48)),
        "app_version": rnd.choice(["2.3.0", "0.96", "0.2.6", "3.7"]),
        "device_type": rnd.choice(["android", "ios"]),
        "ip": "%d.%d.%d.%d" % (rnd.randint(1, 254), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)),
        "locale": rnd.choice(["RU", "PH", "US", None]),
        "device_id": "%03d-%02d-%04d" % (rnd.randint(100, 999), rnd.randint(10, 99), rnd.randint(1000, 9999)),
    }
    text = json.dumps(body)
    if bare:
        out.write(text + "\n")
        continue
    out.write(json.dumps({
        "message_id": "%08x-%04x-%04x-%04x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(16),
                                                     rnd.getrandbits(16), rnd.getrandbits(48)),
        "receipt_handle": "%040x" % rnd.getrandbits(160),
        "body": text,
        "sent_timestamp": t0 + i * 10,
        "receive_count": 1,
    }, separators=(",", ":")) + "\n")
