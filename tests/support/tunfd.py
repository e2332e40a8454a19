#!/usr/bin/env python3
"""Open a TUN fd the way Android's VpnService does and hand it to a child.

Android gives an app an already-configured TUN file descriptor
(IFF_TUN | IFF_NO_PI: raw IP packets, no packet-info header) and the app's
tunnel code must use it as-is. This helper reproduces that on Linux:

  1. open /dev/net/tun and ioctl(TUNSETIFF, IFF_TUN | IFF_NO_PI) with NAME;
  2. optionally assign addresses, MTU and bring the link up with `ip`
     (what Android's VpnService.Builder does before handing over the fd);
  3. move the fd to number FD, make it inheritable, and exec CMD.
     Every `{fd}` in CMD's arguments is replaced with FD, and each
     `--env VAR` sets VAR=FD in the child's environment.

The fd is left blocking, as Android hands it over. Run it inside
`ip netns exec NS ...` so the TUN device is created in that namespace.
The device lives as long as the exec'd process keeps the fd open.

Examples:
  tunfd.py --name tun0 --addr 10.0.0.1/24 --mtu 1420 --up -- ferrotun up wg.conf --tun-fd {fd}
  tunfd.py --name wg0 --fd 3 --env WG_TUN_FD --up -- wireguard-go -f wg0

Stdlib only.
"""

import argparse
import fcntl
import os
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100


def open_tun(name: str, pi: bool = False, multi_queue: bool = False) -> tuple[int, str]:
    """Create (or attach to) TUN device NAME; return (fd, actual name)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TUN if pi else IFF_TUN | IFF_NO_PI
    if multi_queue:
        flags |= IFF_MULTI_QUEUE
    # struct ifreq: char ifr_name[IFNAMSIZ=16]; short ifr_flags; padding to 40.
    ifr = struct.pack("16sH22x", name.encode(), flags)
    res = fcntl.ioctl(fd, TUNSETIFF, ifr)
    actual = res[:16].rstrip(b"\0").decode()
    return fd, actual


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] -- CMD [ARG...]",
    )
    p.add_argument("--name", default="tun%d", help="TUN device name (default tun%%d)")
    p.add_argument("--fd", type=int, default=3, help="fd number in the child (default 3)")
    p.add_argument("--addr", action="append", default=[], help="CIDR to assign (repeatable)")
    p.add_argument("--mtu", type=int, help="MTU to set")
    p.add_argument("--up", action="store_true", help="bring the link up")
    p.add_argument(
        "--pi",
        action="store_true",
        help="keep the 4-byte packet-info header (no IFF_NO_PI): only for "
        "wireguard-go before 2023, whose WG_TUN_FD path assumes it",
    )
    p.add_argument(
        "--multi-queue",
        action="store_true",
        help="create the device with IFF_MULTI_QUEUE, so the child can attach a "
        "new fd to it and drop the old one (ferrotun up --swap-tun-on-sigusr1)",
    )
    p.add_argument("--env", action="append", default=[], help="env var to set to the fd number")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="command to exec")
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("missing CMD after --")

    fd, name = open_tun(a.name, a.pi, a.multi_queue)
    for cidr in a.addr:
        extra = ["nodad"] if ":" in cidr else []
        ip("addr", "add", cidr, "dev", name, *extra)
    if a.mtu:
        ip("link", "set", "dev", name, "mtu", str(a.mtu))
    if a.up:
        ip("link", "set", "dev", name, "up")

    if fd != a.fd:
        os.dup2(fd, a.fd, inheritable=True)
        os.close(fd)
    else:
        os.set_inheritable(fd, True)
    env = dict(os.environ)
    for var in a.env:
        env[var] = str(a.fd)
    argv = [arg.replace("{fd}", str(a.fd)) for arg in cmd]
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
