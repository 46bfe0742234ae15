#!/usr/bin/env python3
"""gen-logins.py N [bare] [--rate R] [--order send|random] [--redeliver F]

N typical sqs-recv lines (or bare bodies) on stdout.  Deterministic (fixed
seed) so every run measures the same input: about a third of the logins
have a null locale and a few repeat ip and device_id, as on the take-home
queue.

--rate R       messages were sent R a second (SentTimestamp spacing;
               default 100)
--order        send: lines in the order sent (a live queue); random: a
               backlog drained in no order
--redeliver F  a fraction F of the messages comes a second time, with the
               same id and SentTimestamp (a redelivery), at least
               --gap lines after the first time (SQS redelivers only
               after the visibility timeout); the N lines include them
"""
import argparse
import json
import random
import sys

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("bare", nargs="?", default="")
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--order", choices=["send", "random"], default="send")
ap.add_argument("--redeliver", type=float, default=0.0)
ap.add_argument("--gap", type=int, default=20000)
a = ap.parse_args()
bare = a.bare == "bare"
rnd = random.Random(42)
out = sys.stdout
t0 = 1700000000000


def login():
    return {
        "user_id": "%08x-%04x-4%03x-a%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                                    rnd.getrandbits(12), rnd.getrandbits(12),
                                                    rnd.getrandbits(48)),
        "app_version": rnd.choice(["2.3.0", "0.96", "0.2.6", "3.7"]),
        "device_type": rnd.choice(["android", "ios"]),
        "ip": "%d.%d.%d.%d" % (rnd.randint(1, 254), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)),
        "locale": rnd.choice(["RU", "PH", "US", None]),
        "device_id": "%03d-%02d-%04d" % (rnd.randint(100, 999), rnd.randint(10, 99), rnd.randint(1000, 9999)),
    }


if bare:
    for _ in range(a.n):
        out.write(json.dumps(login()) + "\n")
    sys.exit(0)

extra = int(a.n * a.redeliver)
msgs = []
for i in range(a.n - extra):
    msgs.append({
        "message_id": "%08x-%04x-%04x-%04x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(16),
                                                     rnd.getrandbits(16), rnd.getrandbits(48)),
        "receipt_handle": "%040x" % rnd.getrandbits(160),
        "body": json.dumps(login()),
        "sent_timestamp": t0 + int(i * 1000 / a.rate),
        "receive_count": 1,
    })
if a.order == "random":
    rnd.shuffle(msgs)
# Each redelivery comes at least gap lines after its first delivery.
later = [[] for _ in range(len(msgs) + 1)]
for _ in range(extra):
    k = rnd.randrange(len(msgs))
    m = dict(msgs[k], receipt_handle="%040x" % rnd.getrandbits(160), receive_count=2)
    later[rnd.randrange(min(k + a.gap, len(msgs)), len(msgs) + 1)].append(m)
for i in range(len(msgs) + 1):
    for m in later[i]:
        out.write(json.dumps(m, separators=(",", ":")) + "\n")
    if i < len(msgs):
        out.write(json.dumps(msgs[i], separators=(",", ":")) + "\n")
