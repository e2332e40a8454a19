#!/usr/bin/env python3
"""TCP bulk transfer with a SHA-256 on each end, for the netns tests.

  xfer.py recv --bind ADDR --port P [--timeout S]
      Accepts one connection, reads to EOF, hashes what it read.
      Prints `listening` once bound, then `result bytes=N sha256=HEX`.
  xfer.py send --to ADDR --port P --bytes N [--rate BYTES_PER_S] [--timeout S]
      Connects (retrying until the timeout), sends N random bytes,
      optionally paced, half-closes and waits for the receiver to close.
      Prints `result bytes=N sha256=HEX`.

The caller compares the two result lines. Every blocking step is bounded by
--timeout (default 60 s); on timeout the script exits 2. Stdlib only.
"""

import argparse
import hashlib
import os
import socket
import sys
import time

CHUNK = 256 * 1024


def out(line: str) -> None:
    print(line, flush=True)


def recv(a: argparse.Namespace) -> None:
    deadline = time.monotonic() + a.timeout
    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.bind, a.port))
    ls.listen(1)
    ls.settimeout(a.timeout)
    out("listening")
    conn, _ = ls.accept()
    h = hashlib.sha256()
    n = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"recv: deadline passed after {n} bytes")
        conn.settimeout(left)
        k = conn.recv_into(buf)
        if k == 0:
            break
        h.update(view[:k])
        n += k
    conn.close()
    out(f"result bytes={n} sha256={h.hexdigest()}")


def connect(a: argparse.Namespace, deadline: float) -> socket.socket:
    while True:
        try:
            return socket.create_connection((a.to, a.port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def send(a: argparse.Namespace) -> None:
    deadline = time.monotonic() + a.timeout
    s = connect(a, deadline)
    h = hashlib.sha256()
    block = os.urandom(CHUNK * 4)
    sent = 0
    start = time.monotonic()
    i = 0
    while sent < a.bytes:
        # Vary the data cheaply so a stuck or duplicated segment changes the hash.
        chunk = block[(i * 7919) % (len(block) - CHUNK):][:CHUNK]
        chunk = chunk[: a.bytes - sent]
        i += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"send: deadline passed after {sent} bytes")
        s.settimeout(left)
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
        if a.rate:
            ahead = sent / a.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(max(0.1, deadline - time.monotonic()))
    while s.recv(4096):
        pass
    s.close()
    secs = time.monotonic() - start
    out(f"result bytes={sent} sha256={h.hexdigest()} secs={secs:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bytes", type=int, required=True)
    s.add_argument("--rate", type=float, default=0)
    s.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    try:
        recv(a) if a.mode == "recv" else send(a)
    except (TimeoutError, socket.timeout) as e:
        print(f"xfer: timeout: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
