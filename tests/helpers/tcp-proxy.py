#!/usr/bin/env python3
"""A TCP proxy for the fault tests: an SQS that refuses or drops
connections for a while.

  tcp-proxy.py PORT UPSTREAM_HOST:UPSTREAM_PORT [--drop N] [--cut-commit K]

Listens on 127.0.0.1:PORT (until then, connections there are refused)
and forwards each connection to the upstream, both ways, until either
side closes.  With --drop N the first N connections are closed as soon
as they are accepted, before a byte is read: the client sees its request
go unanswered.  With --cut-commit K (PostgreSQL) the K-th COMMIT a client
sends is passed to the server, but its answer is not passed back: the
connection is closed once the server has had time to commit, so the
client cannot know whether it did.  Each connection is logged to stderr
as "dropped" or "forwarded", and the cut as "cut".
"""
import socket
import sys
import threading
import time

port = int(sys.argv[1])
up_host, up_port = sys.argv[2].rsplit(":", 1)
drop = int(sys.argv[sys.argv.index("--drop") + 1]) if "--drop" in sys.argv else 0
cut_commit = int(sys.argv[sys.argv.index("--cut-commit") + 1]) if "--cut-commit" in sys.argv else 0
commits = 0
lock = threading.Lock()


def pump(src, dst, to_server, cut):
    global commits
    try:
        while True:
            data = src.recv(65536)
            if not data or cut.is_set():
                break
            if to_server and cut_commit and b"COMMIT\0" in data:
                with lock:
                    commits += 1
                    hit = commits == cut_commit
                if hit:
                    cut.set()      # nothing more goes back to the client
                    sys.stderr.write("cut\n")
                    sys.stderr.flush()
                    dst.sendall(data)
                    time.sleep(0.5)
                    break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(64)
while True:
    conn, _ = listener.accept()
    if drop > 0:
        drop -= 1
        conn.close()
        sys.stderr.write("dropped\n")
        sys.stderr.flush()
        continue
    upstream = socket.create_connection((up_host, int(up_port)))
    sys.stderr.write("forwarded\n")
    sys.stderr.flush()
    cut = threading.Event()
    threading.Thread(target=pump, args=(conn, upstream, True, cut), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, conn, False, cut), daemon=True).start()
