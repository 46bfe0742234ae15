#!/usr/bin/env python3
"""The reference for bench/pii-mask.sh: what a careful Python script does for
pii-mask's work on one sqs-recv line or bare body: parse the envelope and the
body, check the fields, HMAC-SHA256 ip and device_id under the key, encode
app_version, date the row, and write one JSON line."""
import datetime
import hashlib
import hmac
import json
import sys

key = bytes.fromhex(open(sys.argv[1]).read().strip())
out = sys.stdout
today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def mask(v):
    return None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()


def version(v):
    if v is None:
        return None
    p = v.split(".")
    return int(p[0]) * 1000000 + int(p[1]) * 1000 + (int(p[2]) if len(p) > 2 else 0)


for line in sys.stdin:
    try:
        doc = json.loads(line)
        if isinstance(doc.get("receipt_handle"), str) and isinstance(doc.get("body"), str):
            env, body = doc, json.loads(doc["body"])
            date = datetime.datetime.fromtimestamp(env["sent_timestamp"] / 1000, datetime.timezone.utc).date().isoformat()
        else:
            env, body, date = {}, doc, today
        if not isinstance(body.get("user_id"), str) or not body["user_id"]:
            raise ValueError("user_id")
        row = {"user_id": body["user_id"], "device_type": body.get("device_type"),
               "masked_ip": mask(body.get("ip")), "masked_device_id": mask(body.get("device_id")),
               "locale": body.get("locale"), "app_version": version(body.get("app_version")),
               "create_date": date}
        out.write(json.dumps({"row": row, "message_id": env.get("message_id"),
                              "receipt_handle": env.get("receipt_handle")}, separators=(",", ":")) + "\n")
    except (ValueError, KeyError, AttributeError, TypeError) as e:
        out.write(json.dumps({"reject": str(type(e).__name__), "message_id": None, "receipt_handle": None}) + "\n")
