#!/usr/bin/env python3
"""Benchmark: ferrotun vs wireguard-go vs boringtun-cli vs GotaTun.

Run through bench/run.sh (which installs, builds and then calls this and
bench/analyze.py). Needs root, iproute2, iperf3, perf, wg.

Topology (made here, deleted at exit): namespaces ftb-a and ftb-b joined by a
veth pair (10.77.0.1/24 <-> 10.77.0.2/24). For each implementation under
test, tests/support/tunfd.py opens each side's TUN fd (IFF_TUN|IFF_NO_PI,
addresses 10.78.0.{1,2}/24, MTU 1420, up: what Android hands an app) and
execs the implementation with that fd:

  ferrotun       ferrotun up CONF --tun-fd 3 --stats 1
  wireguard-go   WG_TUN_FD=3 wireguard-go -f IF   (+ wg setconf over UAPI)
  boringtun      boringtun-cli --tun-fd 3 -f IF   (+ wg setconf over UAPI)
  gotatun        gotatun -f IF                    (+ wg setconf over UAPI)

GotaTun has no TUN-fd option: it opens its own TUN device, which is as plain
as the handed-over one (IFF_TUN|IFF_NO_PI, no vnet_hdr, one queue, txqueuelen
500); the harness then sets its address, MTU and link state with `ip`.

Each run starts the responder (B), then the initiator (A) while bench/probe.py
pings B from A every millisecond: the connect time is from launching A to the
first echo reply (process start, configuration, handshake, first packet). It
then pings at idle (RTT: the median of IDLE_PINGS pings IDLE_INTERVAL apart) and runs iperf3 (one TCP stream, SECS seconds) A->B,
B->A (-R) and both ways at once (--bidir). During each transfer a sparse flow
runs from both ends: `ping -i 0.02` A->B (its requests travel with an A->B
bulk flow) and B->A (against it), over the middle of the transfer; per-reply
RTTs and losses are kept. The TUN devices' drop counters (`ip -s link`, tx =
packets the kernel could not queue for the process, rx = packets it wrote
that the kernel dropped) are read before and after each transfer. During the
middle of each transfer (skipping the first second and the last one) it
samples, for both tunnel processes:
  - perf stat -e raw_syscalls:sys_enter and the send-type syscalls
    (sendmsg, sendmmsg, sendto) on the process (all threads);
  - the TUN device's tx_packets (packets the process read: each becomes
    exactly one WireGuard datagram) and rx_packets (packets it wrote);
  - utime+stime from /proc/PID/stat;
and at the end of the run VmHWM (peak RSS) from /proc/PID/status.
Runs are interleaved (A B C A B C ...). Writes one JSON document with every
measurement to --out.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TUNFD = os.path.join(HERE, "..", "tests", "support", "tunfd.py")
PROBE = os.path.join(HERE, "probe.py")
# The sparse flow: one ping every 20 ms (a voice call's packet rate).
SPARSE_INTERVAL = 0.02
NS = ["ftb-a", "ftb-b"]
OUTER = ["10.77.0.1", "10.77.0.2"]
INNER = ["10.78.0.1", "10.78.0.2"]
PORT = 51820
MTU = 1420
SEND_EVENTS = [
    "syscalls:sys_enter_sendmsg",
    "syscalls:sys_enter_sendmmsg",
    "syscalls:sys_enter_sendto",
]
EVENTS = ["raw_syscalls:sys_enter"] + SEND_EVENTS
CLK_TCK = os.sysconf("SC_CLK_TCK")


def sh(*args, check=True, timeout=30, **kw):
    return subprocess.run(args, check=check, timeout=timeout, capture_output=True, text=True, **kw)


def nsx(side, *args, **kw):
    return sh("ip", "netns", "exec", NS[side], *args, **kw)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def topology_up():
    topology_down()
    for ns in NS:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", NS[0], "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", NS[1])
    for i, ns in enumerate(NS):
        sh("ip", "-n", ns, "addr", "add", f"{OUTER[i]}/24", "dev", "veth0")
        sh("ip", "-n", ns, "link", "set", "veth0", "up")


def topology_down():
    for ns in NS:
        sh("ip", "netns", "del", ns, check=False)


def genkey():
    priv = sh("wg", "genkey").stdout.strip()
    pub = subprocess.run(["wg", "pubkey"], input=priv, capture_output=True, text=True, check=True).stdout.strip()
    return priv, pub


class Impl:
    """One implementation under test and how to start it on a TUN fd."""

    def __init__(self, key, label, binary, version, pi=False):
        self.key, self.label, self.binary, self.version, self.pi = key, label, binary, version, pi

    def ifname(self, side):
        return f"{self.key[:5]}{side}"

    def start(self, side, keys, peer_pub, workdir, stamp=None):
        name = self.ifname(side)
        peer = 1 - side
        conf = ["[Interface]", f"PrivateKey = {keys[0]}", f"ListenPort = {PORT}"]
        if self.key == "ferrotun":
            conf += [f"Address = {INNER[side]}/24", f"MTU = {MTU}"]
        conf += ["", "[Peer]", f"PublicKey = {peer_pub}", f"AllowedIPs = {INNER[peer]}/32"]
        if side == 0:
            conf.append(f"Endpoint = {OUTER[1]}:{PORT}")
        path = os.path.join(workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write("\n".join(conf) + "\n")
        # boringtun-cli names its UAPI socket after the fd number
        # (/var/run/wireguard/FD.sock), so each side gets its own number.
        fdnum = 20 + side
        uapi = str(fdnum) if self.key == "boringtun" else name
        tunfd = ["python3", TUNFD, "--fd", str(fdnum), "--name", name, "--addr", f"{INNER[side]}/24", "--mtu", str(MTU), "--up"]
        if self.pi:
            tunfd.append("--pi")
        if stamp:
            tunfd += ["--stamp", stamp]
        env = dict(os.environ)
        if self.key == "ferrotun":
            cmd = tunfd + ["--", self.binary, "up", path, "--tun-fd", "{fd}", "--stats", "1"]
        elif self.key == "wireguard-go":
            cmd = tunfd + ["--env", "WG_TUN_FD", "--", self.binary, "-f", name]
            env["LOG_LEVEL"] = "error"
        elif self.key == "gotatun":
            # Opens its own TUN (no fd option); address, MTU, qlen and link state below.
            cmd = [self.binary, "-f", "--disable-drop-privileges", "-v", "error", name]
        else:
            cmd = tunfd + ["--", self.binary, "--tun-fd", "{fd}", "-f", "--disable-drop-privileges", name]
            env["WG_LOG_FILE"] = os.path.join(workdir, f"{name}.log")
        sock = f"/var/run/wireguard/{uapi}.sock"
        if os.path.exists(sock):
            os.remove(sock)  # stale: a fresh one proves the process is listening
        out = open(os.path.join(workdir, f"{name}.out"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", NS[side]] + cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        p.ifname = name
        p.uapi = uapi
        p.outpath = out.name
        if self.key != "ferrotun":
            deadline = time.monotonic() + 10
            while True:
                if os.path.exists(sock):
                    # The socket file can appear just before listen(): retry.
                    r = nsx(side, "wg", "setconf", uapi, path, check=False)
                    if r.returncode == 0:
                        break
                if p.poll() is not None or time.monotonic() > deadline:
                    stop(p)
                    raise RuntimeError(f"{self.label}: cannot configure via {sock}; see {out.name}")
                time.sleep(0.005)
        p.harness_s = 0.0
        if self.key == "gotatun":
            # The harness's own work on GotaTun's device (what the OS does
            # before handing over an fd to the others): not its connect time.
            t = time.time()
            nsx(side, "ip", "addr", "add", f"{INNER[side]}/24", "dev", name)
            nsx(side, "ip", "link", "set", name, "mtu", str(MTU), "txqueuelen", "500", "up")
            p.harness_s = time.time() - t
            p.tun_flags = open_tun_flags(side, name)
        return p


def open_tun_flags(side, name):
    """The device's TUN flags as the kernel reports them (to show it is plain)."""
    r = nsx(side, "cat", f"/sys/class/net/{name}/tun_flags", check=False)
    return r.stdout.strip()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    sock = f"/var/run/wireguard/{p.uapi}.sock"
    if os.path.exists(sock):
        os.remove(sock)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def parse_snapshot(path, ifname):
    """Parses what window_cmd wrote: time, /proc/PID/net/dev, /proc/PID/stat."""
    text = open(path).read().splitlines()
    t = float(text[0])
    dev = {}
    for line in text[1:]:
        if ":" in line and not line.startswith("Inter") and "|" not in line:
            name, rest = line.split(":", 1)
            f = rest.split()
            if len(f) >= 16:
                dev[name.strip()] = (int(f[1]), int(f[9]))  # rx_packets, tx_packets
    stat = text[-1].rsplit(")", 1)[1].split()
    return {
        "t": t,
        "tun_rx": dev[ifname][0],
        "tun_tx": dev[ifname][1],
        "veth_tx": dev["veth0"][1],
        "cpu_ticks": int(stat[11]) + int(stat[12]),  # utime, stime (fields 14, 15)
    }


def window_cmd(pid, secs, before, after):
    """perf stat's workload: the counters perf reports and the ones read here
    cover the same interval (a shell's start-up apart, ~1 ms)."""
    snap = f"date +%s.%N; cat /proc/{pid}/net/dev /proc/{pid}/stat"
    return ["sh", "-c", f"({snap}) > {before}; sleep {secs}; ({snap}) > {after}"]


def perf_counts(path):
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 3 and parts[2] in EVENTS:
                counts[parts[2]] = int(parts[0]) if parts[0].isdigit() else 0
    return counts


# Idle RTT: enough pings for a stable median, spaced so the tunnel is idle
# between them (each one is a lone packet, not part of a stream).
IDLE_PINGS = 100
IDLE_INTERVAL = 0.05


def ping_rtt(side, dst, count=IDLE_PINGS):
    """Idle RTTs: (median in ms, every reply's RTT). The median, not ping's
    mean: one scheduling hiccup on a shared machine moves a mean of a few
    dozen sub-millisecond RTTs by more than the differences measured."""
    r = nsx(side, "ping", "-n", "-c", str(count), "-i", str(IDLE_INTERVAL), "-W", "1", dst, check=False, timeout=count * IDLE_INTERVAL + 30)
    rtts = sorted(float(m) for m in re.findall(r"time=([\d.]+) ms", r.stdout))
    if not rtts:
        return None, []
    mid = len(rtts) // 2
    median = rtts[mid] if len(rtts) % 2 else (rtts[mid - 1] + rtts[mid]) / 2
    return median, rtts


def connect(impl, k, workdir):
    """Starts B, then A while probing B from A; returns (procs, connect ms).

    Connect time runs from the moment A's implementation starts with its TUN
    ready (tunfd.py's exec, after it made and configured the device, as the
    OS does before handing over an fd; for GotaTun, which makes its own TUN,
    its launch, less the harness's `ip` commands on that TUN) to the first
    echo reply: start-up, configuration (including
    `wg setconf` for the UAPI-configured ones), handshake, first packet."""
    procs = [impl.start(1, k[1], k[0][1], workdir)]
    probe = subprocess.Popen(["ip", "netns", "exec", NS[0], "python3", PROBE, INNER[1]], stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)  # the probe is sending (into nothing) before A starts
    stamp = os.path.join(workdir, "exec-stamp")
    if os.path.exists(stamp):
        os.remove(stamp)
    t0 = time.time()
    try:
        procs.insert(0, impl.start(0, k[0], k[1][1], workdir, stamp=stamp))
        out, _ = probe.communicate(timeout=30)
        if os.path.exists(stamp):
            t0 = float(open(stamp).read())
    except BaseException:
        probe.kill()
        probe.wait()
        for p in procs:
            stop(p)
        raise
    for p in procs:
        if p.poll() is not None:
            raise RuntimeError(f"tunnel process exited ({p.returncode}); see {p.outpath}")
    if probe.returncode != 0:
        for p in procs:
            stop(p)
        raise RuntimeError("tunnel never answered a ping")
    return procs, (float(out) - t0 - procs[0].harness_s) * 1000


def start_sparse(side, dst, secs):
    """A ping every SPARSE_INTERVAL for `secs` (the sparse flow)."""
    count = max(1, int(secs / SPARSE_INTERVAL))
    return subprocess.Popen(
        ["ip", "netns", "exec", NS[side], "ping", "-n", "-i", str(SPARSE_INTERVAL), "-W", "1", "-c", str(count), dst],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def sparse_result(proc):
    """Per-reply RTTs (ms) and sent/received counts of a start_sparse ping."""
    out, _ = proc.communicate(timeout=60)
    rtts = [float(m) for m in re.findall(r"time=([\d.]+) ms", out)]
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return {"sent": sent, "received": received, "rtts_ms": rtts}


def tun_drops(side, ifname):
    """The TUN device's drop counters: tx = the kernel could not queue a packet
    for the process to read (its queue was full); rx = a written packet dropped."""
    r = nsx(side, "ip", "-s", "-j", "link", "show", "dev", ifname)
    st = json.loads(r.stdout)[0]["stats64"]
    return {"tx": st["tx"]["dropped"], "rx": st["rx"]["dropped"]}


def transfer(procs, direction, secs, workdir):
    """One iperf3 run (a2b, b2a or bidir) with the sparse flows; returns
    throughput, sparse-flow RTTs and losses, TUN drops and per-endpoint counters."""
    srv = subprocess.Popen(
        ["ip", "netns", "exec", NS[1], "iperf3", "-s", "-1", "-B", INNER[1]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    drops_before = [tun_drops(side, procs[side].ifname) for side in range(2)]
    cli_args = ["iperf3", "-c", INNER[1], "-t", str(secs), "-J"]
    if direction == "b2a":
        cli_args.append("-R")
    elif direction == "bidir":
        cli_args.append("--bidir")
    cli = subprocess.Popen(["ip", "netns", "exec", NS[0]] + cli_args, stdout=subprocess.PIPE, text=True)
    # Measure the steady middle of the transfer.
    window = max(1.0, secs - 2.0)
    time.sleep(1.0)
    sparse = [start_sparse(0, INNER[1], window), start_sparse(1, INNER[0], window)]
    perfs = []
    for p in procs:
        base = os.path.join(workdir, f"w-{p.pid}-{direction}")
        cmd = ["perf", "stat", "-x,", "-o", base + ".perf", "-e", ",".join(EVENTS), "-p", str(p.pid), "--"]
        cmd += window_cmd(p.pid, window, base + ".before", base + ".after")
        perfs.append((base, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for _, pp in perfs:
        pp.wait(window + 30)
    out, _ = cli.communicate(timeout=secs + 30)
    srv.wait(10)
    sparse = [sparse_result(p) for p in sparse]
    drops_after = [tun_drops(side, procs[side].ifname) for side in range(2)]
    res = json.loads(out)
    if "error" in res:
        raise RuntimeError(f"iperf3: {res['error']}")
    end = res["end"]
    bps = end["sum_received"]["bits_per_second"]
    retrans = end["sum_sent"].get("retransmits")
    if direction == "bidir":
        bps += end["sum_received_bidir_reverse"]["bits_per_second"]
        retrans = (retrans or 0) + (end["sum_sent_bidir_reverse"].get("retransmits") or 0)
    eps = []
    for side in range(2):
        base = perfs[side][0]
        b = parse_snapshot(base + ".before", procs[side].ifname)
        a_ = parse_snapshot(base + ".after", procs[side].ifname)
        d = {k: a_[k] - b[k] for k in b}
        elapsed = d["t"]
        c = perf_counts(base + ".perf")
        send = sum(c.get(e, 0) for e in SEND_EVENTS)
        pkts = d["tun_tx"] + d["tun_rx"]
        eps.append(
            {
                "syscalls": c.get("raw_syscalls:sys_enter", 0),
                "send_syscalls": send,
                "send_by_kind": {e.rsplit("_", 1)[1]: c.get(e, 0) for e in SEND_EVENTS},
                "tun_read": d["tun_tx"],
                "tun_written": d["tun_rx"],
                "veth_tx": d["veth_tx"],
                "syscalls_per_packet": c.get("raw_syscalls:sys_enter", 0) / pkts if pkts else None,
                "datagrams_per_send": d["tun_tx"] / send if send else None,
                "cpu_cores": d["cpu_ticks"] / CLK_TCK / elapsed,
                "tun_drops": {k: drops_after[side][k] - drops_before[side][k] for k in ("tx", "rx")},
                # Pings sent from this endpoint's namespace to the other end.
                "sparse": sparse[side],
            }
        )
    return {"direction": direction, "gbps": bps / 1e9, "retransmits": retrans, "window_s": window, "endpoints": eps}


def connect_retrying(impl, keys, workdir, attempts=4):
    """connect(), retried when the tunnel never came up: a UAPI-configured
    implementation (boringtun-cli) sometimes misses its socket's first
    moments and never takes `wg setconf`. Returns (procs, connect_ms,
    retries); the connect time is the successful attempt's, and the retries
    are recorded with the run."""
    for attempt in range(attempts):
        try:
            procs, connect_ms = connect(impl, keys, workdir)
            return procs, connect_ms, attempt
        except RuntimeError as e:
            if attempt == attempts - 1:
                raise
            log(f"  {impl.label}: {e}; retrying")
            time.sleep(1)
    raise AssertionError("unreachable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--ferrotun", required=True)
    ap.add_argument("--wggo", required=True)
    ap.add_argument("--wggo-version", default="")
    ap.add_argument("--wggo-pi", action="store_true", help="old wireguard-go: TUN fd with packet info")
    ap.add_argument("--boringtun", default="")
    ap.add_argument("--gotatun", default="")
    ap.add_argument("--only", default="", help="comma-separated subset: ferrotun,wireguard-go,boringtun,gotatun")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    def version(binary):
        try:
            return sh(binary, "--version", check=False).stdout.strip()
        except OSError:
            return "?"

    impls = [Impl("ferrotun", "ferrotun", a.ferrotun, version(a.ferrotun))]
    impls.append(Impl("wireguard-go", "wireguard-go", a.wggo, a.wggo_version, pi=a.wggo_pi))
    if a.boringtun:
        impls.append(Impl("boringtun", "boringtun-cli", a.boringtun, version(a.boringtun)))
    if a.gotatun:
        impls.append(Impl("gotatun", "GotaTun", a.gotatun, version(a.gotatun) + " (its own plain TUN, not a handed-over fd)"))
    if a.only:
        keep = a.only.split(",")
        impls = [i for i in impls if i.key in keep]

    workdir = tempfile.mkdtemp(prefix="ferrotun-bench-")
    results = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs,
        "secs": a.secs,
        "machine": {
            "kernel": os.uname().release,
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "cores": os.cpu_count(),
            # Other work on the machine skews every number; interleaving
            # spreads it over all implementations, this shows how much there was.
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
        },
        "impls": {i.key: {"label": i.label, "binary": i.binary, "version": i.version} for i in impls},
        "samples": [],
    }
    topology_up()
    try:
        for run in range(a.runs):
            for impl in impls:
                log(f"run {run + 1}/{a.runs}: {impl.label}")
                k = [genkey(), genkey()]
                procs = []
                try:
                    procs, connect_ms, retries = connect_retrying(impl, k, workdir)
                    rtt, rtts = ping_rtt(0, INNER[1])
                    dirs = [transfer(procs, d, a.secs, workdir) for d in ("a2b", "b2a", "bidir")]
                    hwm = [vm_hwm_kib(p.pid) for p in procs]
                    sample = {"impl": impl.key, "run": run, "setup_retries": retries, "rtt_ms": rtt, "idle_rtts_ms": rtts, "connect_ms": connect_ms, "vm_hwm_kib": hwm, "transfers": dirs}
                    if hasattr(procs[0], "tun_flags"):
                        sample["tun_flags"] = procs[0].tun_flags
                    results["samples"].append(sample)

                    def loss(t):
                        e = t["endpoints"]
                        sent = sum(x["sparse"]["sent"] for x in e)
                        return 100 * (sent - sum(x["sparse"]["received"] for x in e)) / sent if sent else 0

                    log(
                        f"  {impl.label}: "
                        + ", ".join(
                            f"{t['direction']} {t['gbps']:.2f} Gbit/s ping loss {loss(t):.1f}% "
                            f"drops {[x['tun_drops']['tx'] + x['tun_drops']['rx'] for x in t['endpoints']]}"
                            for t in dirs
                        )
                        + f", rtt {rtt} ms, connect {connect_ms:.1f} ms, hwm {max(hwm) / 1024:.1f} MiB"
                    )
                except Exception as e:  # keep going: one broken implementation must not hide the others
                    log(f"  {impl.label} failed: {e}")
                    results["samples"].append({"impl": impl.key, "run": run, "error": str(e)})
                finally:
                    for p in procs:
                        stop(p)
                    if impl.key == "ferrotun":
                        for p in procs:
                            try:
                                lines = [l for l in open(p.outpath) if l.startswith("stats ")]
                                if lines and results["samples"] and "error" not in results["samples"][-1]:
                                    results["samples"][-1].setdefault("ferrotun_stats", []).append(lines[-1].strip())
                            except OSError:
                                pass
    finally:
        topology_down()
        results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
        log(f"raw results: {a.out}; logs in {workdir}")
    if not any("error" not in s for s in results["samples"]):
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True) if os.environ.get("BENCH_KEEP_LOGS") != "1" else None


if __name__ == "__main__":
    main()
