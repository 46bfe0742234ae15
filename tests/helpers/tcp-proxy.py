#!/usr/bin/env python3
"""A TCP proxy for the fault tests: an SQS that refuses or drops
connections for a while.

  tcp-proxy.py PORT UPSTREAM_HOST:UPSTREAM_PORT [--drop N]

Listens on 127.0.0.1:PORT (until then, connections there are refused)
and forwards each connection to the upstream, both ways, until either
side closes.  With --drop N the first N connections are closed as soon
as they are accepted, before a byte is read: the client sees its request
go unanswered.  Each connection is logged to stderr as "dropped" or
"forwarded".
"""
import socket
import sys
import threading

port = int(sys.argv[1])
up_host, up_port = sys.argv[2].rsplit(":", 1)
drop = int(sys.argv[sys.argv.index("--drop") + 1]) if "--drop" in sys.argv else 0


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
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
    threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
