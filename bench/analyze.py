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
  - idle ping RTT through the tunnel: the median of every idle ping of
    every run (100 pings 50 ms apart per run);
  - connect time: launching the initiating side to the first echo reply;
  - under load (second table): the sparse flow (a ping every 20 ms from each
    end) during the one-way transfers (A->B and B->A pooled): p50/p99 RTT and
    loss of the pings sent from the bulk sender's end (requests travel with
    the bulk flow) and from the receiver's end (against it); the TUN drops of
    the sending and the receiving endpoint; TCP retransmits; and during
    --bidir: total Gbit/s, the pings of both ends together, TUN drops of both.
"""

import argparse
import json
import os
import statistics
import sys

ORDER = ["ferrotun", "wireguard-go", "boringtun", "gotatun"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f", none="n/a"):
    return none if x is None else format(x, spec)


def pct(xs, q):
    """Nearest-rank percentile (q in 0..100); None for no values."""
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, -(-len(xs) * q // 100) - 1))]


def idle_rtt(samples):
    """Median idle RTT: of every idle ping of every run pooled, or (older
    results, one average per run) the median of the runs' averages."""
    pooled = [r for s in samples for r in s.get("idle_rtts_ms") or []]
    if pooled:
        return med(pooled)
    return med([s["rtt_ms"] for s in samples])


def sparse_stats(pings):
    """p50/p99 RTT and loss % of one or more sparse-flow ping results pooled."""
    rtts = [r for p in pings for r in p["rtts_ms"]]
    sent = sum(p["sent"] for p in pings)
    lost = sent - sum(p["received"] for p in pings)
    return {"p50": pct(rtts, 50), "p99": pct(rtts, 99), "loss": 100 * lost / sent if sent else None}


def drops(endpoint):
    d = endpoint.get("tun_drops")
    return d["tx"] + d["rx"] if d else None


def under_load(samples):
    """Medians over samples of the sparse flow, TUN drops and retransmits."""
    with_bulk, against, drop_snd, drop_rcv, retrans = [], [], [], [], []
    bidir, bidir_gbps, bidir_drops, bidir_retrans = [], [], [], []
    for s in samples:
        for t in s["transfers"]:
            e = t["endpoints"]
            if "sparse" not in e[0]:
                continue
            if t["direction"] == "bidir":
                bidir.append(sparse_stats([e[0]["sparse"], e[1]["sparse"]]))
                bidir_gbps.append(t["gbps"])
                bidir_drops.append(drops(e[0]) + drops(e[1]))
                bidir_retrans.append(t["retransmits"])
                continue
            si = 0 if t["direction"] == "a2b" else 1
            with_bulk.append(sparse_stats([e[si]["sparse"]]))
            against.append(sparse_stats([e[1 - si]["sparse"]]))
            drop_snd.append(drops(e[si]))
            drop_rcv.append(drops(e[1 - si]))
            retrans.append(t["retransmits"])
    if not with_bulk:
        return {}

    def m(rows, k):
        return med([r[k] for r in rows])

    out = {}
    for name, rows in (("with", with_bulk), ("against", against), ("bidir", bidir)):
        for k in ("p50", "p99", "loss"):
            out[f"{name}_{k}"] = m(rows, k)
        out[f"{name}_loss_max"] = max((r["loss"] for r in rows if r["loss"] is not None), default=None)
    out.update(
        drops_sender=med(drop_snd),
        drops_receiver=med(drop_rcv),
        retransmits=med(retrans),
        bidir_gbps=med(bidir_gbps),
        bidir_drops=med(bidir_drops),
        bidir_retransmits=med(bidir_retrans),
    )
    return out


def summarize(raw):
    out = {}
    for key in ORDER:
        samples = [s for s in raw["samples"] if s["impl"] == key and "error" not in s]
        errors = [s["error"] for s in raw["samples"] if s["impl"] == key and "error" in s]
        if key not in raw["impls"]:
            continue
        retries = sum(s.get("setup_retries", 0) for s in samples)
        r = {"label": raw["impls"][key]["label"], "version": raw["impls"][key]["version"], "ok_runs": len(samples), "errors": errors, "setup_retries": retries}
        if samples:
            gb = {d: [t["gbps"] for s in samples for t in s["transfers"] if t["direction"] == d] for d in ("a2b", "b2a")}
            snd, rcv, dps, cpu = [], [], [], []
            for s in samples:
                for t in s["transfers"]:
                    if t["direction"] == "bidir":
                        continue
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
                rtt_ms=idle_rtt(samples),
                connect_ms=med([s.get("connect_ms") for s in samples]),
                tun_flags=next((s["tun_flags"] for s in samples if "tun_flags" in s), None),
            )
            r.update(under_load(samples))
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
        f"Measured {raw['started']} with `{command}` ({raw['runs']} interleaved runs x {raw['secs']} s per transfer: A→B, B→A,",
        f"--bidir; iperf3, one TCP stream) on {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; each side's TUN fd opened by",
        "the harness (IFF_TUN|IFF_NO_PI) and handed to the implementation (GotaTun: see ¹), MTU 1420, veth between two namespaces.",
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
    lines += [
        "",
        "Under load: a sparse flow (one ping every 20 ms from each end) during the bulk transfers. One-way",
        "columns pool the A→B and B→A runs; \"with\" = pings sent from the bulk sender's end (requests travel",
        "with the bulk flow), \"against\" = from the receiver's end. Loss = median over transfers (worst in",
        "brackets). TUN drops = the device's tx+rx dropped counters over the transfer (`ip -s link`).",
        "",
        "| implementation | connect (ms) | idle RTT (ms) | ping p50 / p99 with (ms) | loss with | ping p50 / p99 against (ms) | loss against | TUN drops sender | TUN drops receiver | TCP retransmits | --bidir Gbit/s (total) | --bidir ping p50 / p99 (ms) | --bidir loss | --bidir TUN drops |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in summ.items():
        if "with_p50" not in r:
            continue
        lines.append(
            f"| {r['label']}{' ¹' if key == 'gotatun' else ''} | {fmt(r['connect_ms'], '.1f')} | {fmt(r['rtt_ms'], '.3f')} | "
            f"{fmt(r['with_p50'])} / {fmt(r['with_p99'])} | {fmt(r['with_loss'], '.1f')}% ({fmt(r['with_loss_max'], '.1f')}) | "
            f"{fmt(r['against_p50'])} / {fmt(r['against_p99'])} | {fmt(r['against_loss'], '.1f')}% ({fmt(r['against_loss_max'], '.1f')}) | "
            f"{fmt(r['drops_sender'], '.0f')} | {fmt(r['drops_receiver'], '.0f')} | {fmt(r['retransmits'], '.0f')} | "
            f"{fmt(r['bidir_gbps'])} | {fmt(r['bidir_p50'])} / {fmt(r['bidir_p99'])} | "
            f"{fmt(r['bidir_loss'], '.1f')}% ({fmt(r['bidir_loss_max'], '.1f')}) | {fmt(r['bidir_drops'], '.0f')} |"
        )
    if "gotatun" in summ:
        flags = summ["gotatun"].get("tun_flags")
        lines += [
            "",
            "¹ GotaTun has no TUN-fd option: it runs on the TUN device it opens itself, plain like the handed-over",
            f"ones (no vnet_hdr, one queue, txqueuelen 500{'; kernel tun_flags ' + flags if flags else ''}), configured with `wg` over its UAPI socket.",
        ]
    lines += ["", "Versions:"]
    for key, r in summ.items():
        notes = [f"{len(r['errors'])} failed runs"] if r["errors"] else []
        if r.get("setup_retries"):
            notes.append(f"{r['setup_retries']} start-ups retried (never came up)")
        lines.append(f"- {r['label']}: {r['version'] or '?'}" + (f" ({'; '.join(notes)})" if notes else ""))
    lines += [
        "",
        "How measured: medians over runs (first table: the one-way transfers). syscalls/pkt = `perf stat -e raw_syscalls:sys_enter -p PID` over the",
        "steady middle of each transfer / (packets the process read from + wrote to its TUN, from the TUN's",
        "tx/rx counters); sender = the endpoint reading the bulk data from its TUN. datagrams/send syscall =",
        "packets read from the TUN at the sender (each becomes exactly one WireGuard datagram) / its",
        "sendmsg+sendmmsg+sendto calls. CPU = utime+stime of both tunnel processes per wall second",
        "(2 cores here, shared with iperf3); cores per Gbit/s = that / mean throughput.",
        "Peak RSS = largest VmHWM of any tunnel process. Idle RTT = median of 100 pings 50 ms apart per run, all runs pooled. Connect = launching",
        "the initiating side (B already up) to the first reply of a ping sent every 1 ms (bench/probe.py).",
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
    colors = ["#d9480f", "#1c7ed6", "#2f9e44", "#7048e8"][: len(rows)]
    panels = [
        ("Throughput (Gbit/s, mean of directions)", [r["gbps"] for _, r in rows]),
        ("Syscalls per packet (sender)", [r["sys_per_pkt_sender"] or 0 for _, r in rows]),
        ("UDP datagrams per send syscall", [r["datagrams_per_send"] or 0 for _, r in rows]),
        ("CPU cores (both ends) per Gbit/s", [r["cores_per_gbps"] or 0 for _, r in rows]),
        ("Peak RSS (MiB)", [r["peak_rss_mib"] for _, r in rows]),
        ("Idle ping RTT (ms)", [r["rtt_ms"] or 0 for _, r in rows]),
        ("Connect time (ms)", [r.get("connect_ms") or 0 for _, r in rows]),
        ("Sparse flow p99 RTT under one-way load (ms, worse end)", [max(r.get("with_p99") or 0, r.get("against_p99") or 0) for _, r in rows]),
        ("Sparse flow loss under load (%, one-way / --bidir)", None),
    ]
    fig, axes = plt.subplots(3, 3, figsize=(14, 10))
    for n, (ax, (title, vals)) in enumerate(zip(axes.flat, panels)):
        if vals is None:
            one = [max(r.get("with_loss") or 0, r.get("against_loss") or 0) for _, r in rows]
            both = [r.get("bidir_loss") or 0 for _, r in rows]
            xs = range(len(rows))
            ax.bar([x - 0.2 for x in xs], one, width=0.4, color=colors)
            ax.bar([x + 0.2 for x in xs], both, width=0.4, color=colors, alpha=0.45, hatch="//")
            for x in xs:
                ax.text(x - 0.2, one[x], f"{one[x]:.1f}", ha="center", va="bottom", fontsize=7)
                ax.text(x + 0.2, both[x], f"{both[x]:.1f}", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(list(xs), labels)
            ax.set_title(title, fontsize=10)
            ax.tick_params(axis="x", labelsize=8)
            continue
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
    fig.suptitle("Ferrotun benchmark: plain TUN, veth between namespaces, iperf3 one TCP stream + 20 ms pings")
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
