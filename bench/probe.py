#!/usr/bin/env python3
"""Connect-time probe: ICMP echo to DST every millisecond until one is answered.

  probe.py DST [--timeout 20]

Run inside the initiating side's namespace (`ip netns exec`) just before the
tunnel is started. Sends fail while the TUN device or its route does not
exist yet; they are simply retried. Prints the wall-clock time (time.time(),
seconds) at which the first echo reply from DST arrived, so the caller can
subtract the moment it started the tunnel. Exits 1 on timeout. Stdlib only;
needs root (raw socket).
"""

import argparse
import os
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq):
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    payload = b"ferrotun-connect"
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    deadline = time.monotonic() + a.timeout
    seq = 0
    while time.monotonic() < deadline:
        seq = (seq + 1) & 0xFFFF
        try:
            sock.sendto(echo_request(ident, seq), (a.dst, 0))
        except OSError:
            pass  # no device or route yet
        ready, _, _ = select.select([sock], [], [], 0.001)
        while ready:
            data, addr = sock.recvfrom(2048)
            now = time.time()
            ihl = (data[0] & 0x0F) * 4
            icmp_type, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if addr[0] == a.dst and icmp_type == 0 and rid == ident:
                print(f"{now:.6f}")
                return
            ready, _, _ = select.select([sock], [], [], 0)
    sys.exit(1)


if __name__ == "__main__":
    main()
