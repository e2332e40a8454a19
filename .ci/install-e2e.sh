#!/usr/bin/env bash
# Installs what tests/netns_e2e.rs needs: iproute2 (ip netns, veth, tc netem), ping,
# iperf3, wireguard-go (the independent implementation we interop with) and
# wireguard-tools (`wg`, to configure it). python3 runs tests/support/*.py
# (stdlib only). Idempotent: installs only what is missing. Needs root.
set -euo pipefail

need=()
for pkg in iproute2 iputils-ping iperf3 wireguard-go wireguard-tools; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        need+=("$pkg")
    fi
done
command -v python3 >/dev/null || need+=(python3)

if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: wireguard-tools recommends the kernel module
    # package and resolvconf, neither of which the tests use.
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# iperf3's Debian package may ask to start a daemon; make sure none runs.
if command -v systemctl >/dev/null && systemctl is-active -q iperf3 2>/dev/null; then
    systemctl stop iperf3 || true
fi
echo "install-e2e: ok ($(wireguard-go --version 2>&1 | head -1); $(wg --version 2>&1 | head -1))"
