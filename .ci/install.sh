#!/usr/bin/env bash
# Installs everything the test suite needs on a clean Debian machine;
# idempotent. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Network-namespace tests: iproute2, ping, iperf3, wireguard-go, wireguard-tools, python3.
bash .ci/install-e2e.sh

# Kotlin tests on the JVM: Java 17 comes with the machine; Maven may not.
if ! command -v mvn >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends maven >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
