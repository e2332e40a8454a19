#!/usr/bin/env bash
# Ferrotun benchmark: ferrotun vs wireguard-go vs boringtun-cli vs GotaTun:
# throughput, efficiency, and a sparse flow's latency and loss under load.
#
#   sudo bench/run.sh            # 5 interleaved runs x 10 s per transfer (A->B, B->A, both)
#   sudo bench/run.sh --quick    # 1 run x 3 s, smoke test (writes results/quick.*)
#   sudo bench/run.sh --runs 7 --secs 15 --only ferrotun,wireguard-go
#
# Needs root (network namespaces, TUN, perf). Installs what it needs first
# (bench/install.sh: iperf3, wireguard-go/-tools, perf, matplotlib, newest
# wireguard-go via `go install`, boringtun-cli and gotatun-cli via `cargo install`; set
# BENCH_NO_INSTALL=1 to skip), builds ferrotun with `cargo build --release`,
# runs bench/bench.py (topology, measurements; see its docstring) and
# bench/analyze.py, which writes bench/results/latest.{md,png,json}
# (quick.{md,png,json} with --quick, so a smoke test keeps the real numbers).
# Raw per-run JSON goes to bench/results/raw/ (not committed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
prefix="${BENCH_PREFIX:-/opt/ferrotun-bench}"

runs=5 secs=10 only="" name=latest
while (($#)); do
    case "$1" in
        --quick) runs=1 secs=3 name=quick ;;
        --runs) runs="$2"; shift ;;
        --secs) secs="$2"; shift ;;
        --only) only="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$(id -u)" != 0 ]; then echo "bench/run.sh: needs root" >&2; exit 1; fi

[ "${BENCH_NO_INSTALL:-0}" = 1 ] || bash "$here/install.sh"

(cd "$root" && cargo build --release --quiet --bin ferrotun)
ferrotun="${CARGO_TARGET_DIR:-$root/target}/release/ferrotun"

# wireguard-go: the newest from the Go module proxy if install.sh built it,
# else Debian's, whose WG_TUN_FD path needs a TUN fd with packet info.
if [ -x "$prefix/bin/wireguard" ]; then
    wggo="$prefix/bin/wireguard"
    wggo_version="$(cat "$prefix/bin/wireguard.version" 2>/dev/null || echo '?') (go install, newest)"
    wggo_pi=()
else
    wggo="$(command -v wireguard-go)"
    wggo_version="$(wireguard-go --version 2>&1 | head -1) (Debian package; TUN fd with packet info)"
    wggo_pi=(--wggo-pi)
fi
boringtun=""
for b in "$prefix/bin/boringtun-cli" "$(command -v boringtun-cli || true)"; do
    if [ -n "$b" ] && [ -x "$b" ]; then boringtun="$b"; break; fi
done
[ -n "$boringtun" ] || echo "bench/run.sh: boringtun-cli not found; measuring without it" >&2
gotatun=""
for b in "$prefix/bin/gotatun" "$(command -v gotatun || true)"; do
    if [ -n "$b" ] && [ -x "$b" ]; then gotatun="$b"; break; fi
done
[ -n "$gotatun" ] || echo "bench/run.sh: gotatun not found; measuring without it" >&2

mkdir -p "$here/results/raw"
raw="$here/results/raw/$(date -u +%Y%m%dT%H%M%SZ).json"
python3 "$here/bench.py" --runs "$runs" --secs "$secs" --ferrotun "$ferrotun" \
    --wggo "$wggo" --wggo-version "$wggo_version" "${wggo_pi[@]}" \
    --boringtun "$boringtun" --gotatun "$gotatun" --only "$only" --out "$raw"
cmd="bench/run.sh"
[ "$name" = quick ] && cmd="bench/run.sh --quick"
python3 "$here/analyze.py" "$raw" --outdir "$here/results" --command "$cmd" --name "$name"
