#!/usr/bin/env bash
# Runs every test: Rust unit, in-process and (as root) network-namespace
# end-to-end tests. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests"
cargo test --all-targets

echo "== mobile: bindings freshness, Kotlin tests on the JVM, Android helper compile check"
bash .ci/mobile.sh
