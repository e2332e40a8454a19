#!/usr/bin/env bash
# Installs everything the test suite needs; idempotent. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        iproute2 iputils-ping iperf3 wireguard-go wireguard-tools python3 maven >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
