#!/usr/bin/env python3
"""Turn one bench/bench.py JSON into bench/results/latest.{md,png,json}.

  analyze.py RAW.json [--outdir bench/results] [--command "bench/run.sh"] [--name latest]

Per implementation (medians over all runs unless said otherwise):
  - Gbit/s per direction, and the mean of the two directions' medians as a
    ratio to wireguard-go;
  - syscalls per data packet per endpoint: raw_syscalls:sys_enter on the
    tunnel process / (packets it read from + wrote to its TUN), for the
    sending endpoint (reads the bulk data) and the receiving one;
  - UDP datagrams per UDP send syscall at the sending endpoint: packets read
    from the TUN (each becomes exactly one WireGuard datagram) / (sendmsg +
    sendmmsg + sendto calls);
  - CPU: utime+stime of both tunnel processes per second of wall time
    (1.0 = one core busy);
  - peak RSS: the largest VmHWM of any tunnel process in any run;
  - idle ping RTT through the tunnel (avg of 20 pings, median over runs).
"""

import argparse
import json
import os
import statistics
import sys

ORDER = ["ferrotun", "wireguard-go", "boringtun"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f", none="n/a"):
    return none if x is None else format(x, spec)


def summarize(raw):
    out = {}
    for key in ORDER:
        samples = [s for s in raw["samples"] if s["impl"] == key and "error" not in s]
        errors = [s["error"] for s in raw["samples"] if s["impl"] == key and "error" in s]
        if key not in raw["impls"]:
            continue
        r = {"label": raw["impls"][key]["label"], "version": raw["impls"][key]["version"], "ok_runs": len(samples), "errors": errors}
        if samples:
            gb = {d: [t["gbps"] for s in samples for t in s["transfers"] if t["direction"] == d] for d in ("a2b", "b2a")}
            snd, rcv, dps, cpu = [], [], [], []
            for s in samples:
                for t in s["transfers"]:
                    si = 0 if t["direction"] == "a2b" else 1
                    e = t["endpoints"]
                    snd.append(e[si]["syscalls_per_packet"])
                    rcv.append(e[1 - si]["syscalls_per_packet"])
                    dps.append(e[si]["datagrams_per_send"])
                    cpu.append(e[0]["cpu_cores"] + e[1]["cpu_cores"])
            r.update(
                gbps_a2b=med(gb["a2b"]),
                gbps_b2a=med(gb["b2a"]),
                gbps_all=gb["a2b"] + gb["b2a"],
                sys_per_pkt_sender=med(snd),
                sys_per_pkt_receiver=med(rcv),
                datagrams_per_send=med(dps),
                cpu_cores=med(cpu),
                peak_rss_mib=max(max(s["vm_hwm_kib"]) for s in samples) / 1024,
                rtt_ms=med([s["rtt_ms"] for s in samples]),
            )
            r["gbps"] = (r["gbps_a2b"] + r["gbps_b2a"]) / 2
            r["cores_per_gbps"] = r["cpu_cores"] / r["gbps"] if r["gbps"] else None
            stats = [line for s in samples for line in s.get("ferrotun_stats", [])]
            if stats:
                r["ferrotun_stats_last"] = stats[-1]
        out[key] = r
    base = out.get("wireguard-go", {}).get("gbps")
    for r in out.values():
        r["ratio_wggo"] = r["gbps"] / base if base and r.get("gbps") else None
    return out


def markdown(raw, summ, command):
    m = raw["machine"]
    lines = [
        f"Measured {raw['started']} with `{command}` ({raw['runs']} interleaved runs x {raw['secs']} s per direction,",
        f"iperf3, one TCP stream) on {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; each side's TUN fd opened by",
        "the harness (IFF_TUN|IFF_NO_PI) and handed to the implementation, MTU 1420, veth between two namespaces.",
    ]
    if "loadavg_start" in m:
        lines.append(
            f"Load average (1/5/15 min) at start {'/'.join(m['loadavg_start'])}, at end "
            f"{'/'.join(m.get('loadavg_end', ['?']))}: anything else running shares the same cores."
        )
    lines += [
        "",
        "| implementation | Gbit/s A→B | Gbit/s B→A | vs wireguard-go | syscalls/pkt sender | syscalls/pkt receiver | datagrams/send syscall | CPU (cores) | cores per Gbit/s | peak RSS (MiB) | idle RTT (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in summ.items():
        if "gbps" not in r:
            lines.append(f"| {r['label']} | failed: {r['errors'][0][:60] if r['errors'] else '?'} ||||||||||")
            continue
        lines.append(
            f"| {r['label']} | {fmt(r['gbps_a2b'])} | {fmt(r['gbps_b2a'])} | {fmt(r['ratio_wggo'], '.2f')}x | "
            f"{fmt(r['sys_per_pkt_sender'])} | {fmt(r['sys_per_pkt_receiver'])} | {fmt(r['datagrams_per_send'], '.1f')} | "
            f"{fmt(r['cpu_cores'])} | {fmt(r['cores_per_gbps'])} | {fmt(r['peak_rss_mib'], '.1f')} | {fmt(r['rtt_ms'], '.3f')} |"
        )
    lines += ["", "Versions:"]
    for key, r in summ.items():
        lines.append(f"- {r['label']}: {r['version'] or '?'}" + (f" ({len(r['errors'])} failed runs)" if r["errors"] else ""))
    lines += [
        "",
        "How measured: medians over runs. syscalls/pkt = `perf stat -e raw_syscalls:sys_enter -p PID` over the",
        "steady middle of each transfer / (packets the process read from + wrote to its TUN, from the TUN's",
        "tx/rx counters); sender = the endpoint reading the bulk data from its TUN. datagrams/send syscall =",
        "packets read from the TUN at the sender (each becomes exactly one WireGuard datagram) / its",
        "sendmsg+sendmmsg+sendto calls. CPU = utime+stime of both tunnel processes per wall second",
        "(2 cores here, shared with iperf3); cores per Gbit/s = that / mean throughput.",
        "Peak RSS = largest VmHWM of any tunnel process. RTT = avg of 20 pings at idle.",
    ]
    ft = summ.get("ferrotun", {}).get("ferrotun_stats_last")
    if ft:
        lines += ["", f"ferrotun's own counters (last run, final line): `{ft}`"]
    return "\n".join(lines) + "\n"


def chart(summ, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("analyze.py: matplotlib missing; no chart", file=sys.stderr)
        return
    rows = [(r["label"], r) for r in summ.values() if "gbps" in r]
    labels = [l for l, _ in rows]
    colors = ["#d9480f", "#1c7ed6", "#2f9e44"][: len(rows)]
    panels = [
        ("Throughput (Gbit/s, mean of directions)", [r["gbps"] for _, r in rows]),
        ("Syscalls per packet (sender)", [r["sys_per_pkt_sender"] or 0 for _, r in rows]),
        ("UDP datagrams per send syscall", [r["datagrams_per_send"] or 0 for _, r in rows]),
        ("CPU cores (both ends) per Gbit/s", [r["cores_per_gbps"] or 0 for _, r in rows]),
        ("Peak RSS (MiB)", [r["peak_rss_mib"] for _, r in rows]),
        ("Idle ping RTT (ms)", [r["rtt_ms"] or 0 for _, r in rows]),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for n, (ax, (title, vals)) in enumerate(zip(axes.flat, panels)):
        ax.bar(labels, vals, color=colors)
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(vals):
            # Throughput labels go inside the bar, clear of the per-run dots.
            y, va, c = (v / 2, "center", "white") if n == 0 else (v, "bottom", "black")
            ax.text(i, y, f"{v:.2f}" if v < 100 else f"{v:.0f}", ha="center", va=va, fontsize=8, color=c)
        ax.tick_params(axis="x", labelsize=8)
    ax = axes.flat[0]
    for i, (_, r) in enumerate(rows):
        ax.scatter([i] * len(r["gbps_all"]), r["gbps_all"], color="black", s=8, zorder=3)
    fig.suptitle("Ferrotun benchmark: plain TUN fd, veth between namespaces, iperf3 one TCP stream")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--outdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--name", default="latest", help="output file stem (run.sh --quick uses `quick`)")
    a = ap.parse_args()
    raw = json.load(open(a.raw))
    summ = summarize(raw)
    os.makedirs(a.outdir, exist_ok=True)
    md = markdown(raw, summ, a.command)
    with open(os.path.join(a.outdir, f"{a.name}.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.outdir, f"{a.name}.json"), "w") as f:
        json.dump({"summary": summ, "raw": raw}, f, indent=1)
    chart(summ, os.path.join(a.outdir, f"{a.name}.png"))
    print(md)


if __name__ == "__main__":
    main()
