#!/usr/bin/env bash
# Installs what bench/run.sh needs, on top of .ci/install-e2e.sh:
#   - linux-perf (perf stat for syscall counts)
#   - matplotlib for the python3 on PATH (the chart)
#   - the newest wireguard-go, built with `go install` from the Go module proxy
#     when Go is available (into $BENCH_PREFIX/bin/wireguard); otherwise run.sh
#     falls back to Debian's wireguard-go and the table says so
#   - boringtun-cli and gotatun-cli (GotaTun 0.10) via `cargo install` (into $BENCH_PREFIX)
# Idempotent; needs root. BENCH_PREFIX defaults to /opt/ferrotun-bench.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${BENCH_PREFIX:-/opt/ferrotun-bench}"
mkdir -p "$prefix/bin"

bash "$here/../.ci/install-e2e.sh"

if ! command -v perf >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi

if ! python3 -c 'import matplotlib' 2>/dev/null; then
    python3 -m pip install -q matplotlib 2>/dev/null \
        || python3 -m pip install -q --break-system-packages matplotlib
fi

if command -v go >/dev/null; then
    if [ ! -x "$prefix/bin/wireguard" ] || [ "${BENCH_REFRESH:-0}" = 1 ]; then
        # The module root is wireguard-go's main package; go install names the
        # binary after the last path element: `wireguard`. The upstream tags
        # are not semver, so @latest resolves to the newest commit's pseudo-version.
        GOBIN="$prefix/bin" go install golang.zx2c4.com/wireguard@latest
        go version -m "$prefix/bin/wireguard" | awk '$1=="mod"{print $3}' >"$prefix/bin/wireguard.version"
    fi
else
    echo "bench/install.sh: no Go toolchain; run.sh will use Debian's wireguard-go" >&2
fi

if [ ! -x "$prefix/bin/boringtun-cli" ]; then
    cargo install --quiet --locked --root "$prefix" boringtun-cli
fi
if [ ! -x "$prefix/bin/gotatun" ]; then
    # Optional: run.sh measures without it if this fails.
    cargo install --quiet --locked --root "$prefix" gotatun-cli \
        || echo "bench/install.sh: gotatun-cli did not install; measuring without it" >&2
fi
echo "bench/install.sh: ok (prefix $prefix)"
