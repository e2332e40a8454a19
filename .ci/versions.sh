#!/usr/bin/env bash
# Checks what Cargo.toml promises but a normal build never tests:
#   1. the MSRV (`rust-version`) builds every target;
#   2. the declared minimum versions of direct dependencies are enough
#      (`-Z direct-minimal-versions` on nightly, in a scratch copy so the
#      committed Cargo.lock is untouched);
#   3. the docs build with warnings denied (private items included).
# Installs the toolchains it needs through rustup. Honours CARGO_TARGET_DIR
# for the doc build; the other two use scratch target dirs under $TMPDIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scratch="${TMPDIR:-/tmp}/ferrotun-versions"

msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"
echo "== MSRV $msrv: cargo check --all-targets"
rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
CARGO_TARGET_DIR="$scratch/msrv-target" cargo "+$msrv" check --all-targets --locked -q

echo "== direct dependencies at their declared minimum versions"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rm -rf "$scratch/src" && mkdir -p "$scratch/src"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$scratch/src"
(cd "$scratch/src" && cargo +nightly update -Z direct-minimal-versions -q &&
    CARGO_TARGET_DIR="$scratch/minver-target" cargo check --all-targets -q)

echo "== cargo doc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items -q
echo "versions: MSRV, minimal versions and docs ok"
