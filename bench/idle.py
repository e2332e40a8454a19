#!/usr/bin/env python3
"""Idle round trip only, at several ping spacings: the quick loop for work on
idle latency (the full bench/run.sh measures it at one spacing, 50 ms).

  sudo python3 bench/idle.py --runs 4 --spacing 0.002,0.02,0.05
  sudo python3 bench/idle.py --ferrotun target/release/ferrotun --ferrotun2 /tmp/ferrotun.old

Same harness as bench.py (namespaces, TUN fds, configs; needs bench/install.sh
to have run). Each run starts every implementation fresh (interleaved), and
for each spacing sends --pings pings A->B and takes the median RTT. Prints
the median of the runs' medians per implementation and spacing, and each
implementation's median per-run difference from the first one (paired
within runs, so the machine's drift between runs cancels out).

Why spacings: a round trip after a long idle gap runs on cold caches and
TLBs (on this VM, twice as slow at 50 ms as at 2 ms), so an implementation
that touches more memory per wakeup loses at long gaps and not at short ones.
--ferrotun2 compares more ferrotun binaries (comma-separated) in the same runs.
Pass the baseline binary once more among them (a copy under another name) as
an A/A control: its paired difference is the noise floor of the set (on the
2-vCPU bench VM: -6.0 µs in one set of 16 runs, +1.0 in another).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

PREFIX = os.environ.get("BENCH_PREFIX", "/opt/ferrotun-bench")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pings", type=int, default=100)
    ap.add_argument("--spacing", default="0.05", help="comma-separated ping intervals in seconds")
    ap.add_argument("--only", default="ferrotun,boringtun", help="ferrotun,boringtun,wireguard-go,gotatun")
    ap.add_argument("--ferrotun", default=os.path.join(here, "..", "target", "release", "ferrotun"))
    ap.add_argument("--ferrotun2", default="", help="more ferrotun binaries, comma-separated, measured as 'ferrotun2', 'ferrotun3', ...")
    a = ap.parse_args()

    binaries = {
        "ferrotun": ("ferrotun", a.ferrotun),
        "boringtun": ("boringtun-cli", f"{PREFIX}/bin/boringtun-cli"),
        "wireguard-go": ("wireguard-go", f"{PREFIX}/bin/wireguard"),
        "gotatun": ("GotaTun", f"{PREFIX}/bin/gotatun"),
    }
    impls = []
    for key in a.only.split(","):
        label, binary = binaries[key]
        impls.append(bench.Impl(key, label, binary, ""))
    for n, binary in enumerate(filter(None, a.ferrotun2.split(",")), start=2):
        impls.append(bench.Impl("ferrotun", f"ferrotun{n}", binary, ""))
    spacings = [float(s) for s in a.spacing.split(",")]

    medians = {(i.label, s): [] for i in impls for s in spacings}
    workdir = tempfile.mkdtemp(prefix="ferrotun-idle-")
    bench.topology_up()
    try:
        for run in range(a.runs):
            for impl in impls:
                keys = [bench.genkey(), bench.genkey()]
                procs, _, _ = bench.connect_retrying(impl, keys, workdir)
                try:
                    for spacing in spacings:
                        bench.IDLE_INTERVAL = spacing
                        median, _ = bench.ping_rtt(0, bench.INNER[1], a.pings)
                        medians[(impl.label, spacing)].append(median)
                        bench.log(f"run {run + 1}/{a.runs} {impl.label} every {spacing * 1000:g} ms: median {median:.3f} ms")
                finally:
                    for p in procs:
                        bench.stop(p)
    finally:
        bench.topology_down()

    print(f"idle RTT, median of {a.runs} runs' medians ({a.pings} pings each), ms")
    print("implementation".ljust(16) + "".join(f"every {s * 1000:g} ms".rjust(14) for s in spacings))
    for impl in impls:
        row = "".join(f"{statistics.median(medians[(impl.label, s)]):14.3f}" for s in spacings)
        print(impl.label.ljust(16) + row)

    # The machine's state moves every implementation's RTT in a run by more
    # than the differences between them: compare within runs.
    first = impls[0].label
    if len(impls) > 1:
        print(f"\nper-run difference from {first}, median over runs in µs (runs where it was faster)")
    for impl in impls[1:]:
        row = ""
        for s in spacings:
            diffs = [(b - a) * 1000 for a, b in zip(medians[(first, s)], medians[(impl.label, s)])]
            faster = sum(d < 0 for d in diffs)
            row += f"{statistics.median(diffs):+9.1f} ({faster}/{len(diffs)})"
        print(impl.label.ljust(16) + row)


if __name__ == "__main__":
    main()
