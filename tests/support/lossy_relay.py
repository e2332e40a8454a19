#!/usr/bin/env python3
"""Userspace stand-in for `tc netem loss X% reorder Y%` on a UDP path.

Used by tests/netns_e2e.rs when the kernel has no sch_netem. It sits in
front of a UDP service: datagrams from clients arriving at --listen go to
--target, replies from --target go back to the client that last sent. In
both directions each datagram is dropped with probability --loss; of the
rest, a fraction --reorder is held back and sent after the next datagram in
the same direction (or after --hold-ms if none follows), i.e. swapped.

  lossy_relay.py --listen 10.77.0.2:51821 --target 127.0.0.1:51820 \\
      --loss 0.03 --reorder 0.25 --seed 1 --timeout 120

Prints `relaying` once bound and, on SIGTERM or at --timeout, a line
`relay forwarded=N dropped=N reordered=N`. Stdlib only, one thread.
"""

import argparse
import random
import selectors
import signal
import socket
import sys
import time


def addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True, type=addr)
    p.add_argument("--target", required=True, type=addr)
    p.add_argument("--loss", type=float, default=0.03)
    p.add_argument("--reorder", type=float, default=0.25)
    p.add_argument("--hold-ms", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    rng = random.Random(a.seed)

    front = socket.socket(family(a.listen[0]), socket.SOCK_DGRAM)
    front.bind(a.listen)
    back = socket.socket(family(a.target[0]), socket.SOCK_DGRAM)
    back.connect(a.target)
    for s in (front, back):
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sel = selectors.DefaultSelector()
    sel.register(front, selectors.EVENT_READ, "up")
    sel.register(back, selectors.EVENT_READ, "down")

    client = None
    held = {"up": None, "down": None}  # (deadline, payload)
    n = {"forwarded": 0, "dropped": 0, "reordered": 0}
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def send(direction: str, data: bytes) -> None:
        try:
            if direction == "up":
                back.send(data)
            elif client is not None:
                front.sendto(data, client)
            n["forwarded"] += 1
        except OSError:
            n["dropped"] += 1

    print("relaying", flush=True)
    end = time.monotonic() + a.timeout
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        for d, h in held.items():
            if h and h[0] <= now:
                held[d] = None
                send(d, h[1])
        timeout = a.hold_ms / 1000 if any(held.values()) else 0.2
        for key, _ in sel.select(timeout):
            direction = key.data
            for _ in range(64):
                try:
                    data, src = key.fileobj.recvfrom(65535)
                except BlockingIOError:
                    break
                if direction == "up":
                    client = src
                if rng.random() < a.loss:
                    n["dropped"] += 1
                    continue
                if held[direction] is None and rng.random() < a.reorder:
                    held[direction] = (time.monotonic() + a.hold_ms / 1000, data)
                    n["reordered"] += 1
                    continue
                send(direction, data)
                h = held[direction]
                if h is not None:
                    held[direction] = None
                    send(direction, h[1])
    print("relay " + " ".join(f"{k}={v}" for k, v in n.items()), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
