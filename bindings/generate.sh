#!/usr/bin/env bash
# Regenerates bindings/kotlin and bindings/swift from the built library.
#
# The library is built with default features, so the generated (and
# committed) bindings are exactly the release surface. Formatting is
# off (--no-format) so the output does not depend on whether ktlint or
# swiftformat happen to be installed: CI compares it byte for byte.
#
# Usage: bindings/generate.sh            (honours CARGO_TARGET_DIR)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TARGET_DIR="$target_dir"

# The generator first: building it enables uniffi's `cli` feature, which must
# not be the build we read the metadata from.
cargo build --quiet --features bindgen --bin uniffi-bindgen
cargo build --quiet --lib

lib="$target_dir/debug/libferrotun.so"
[[ "$(uname -s)" == Darwin ]] && lib="$target_dir/debug/libferrotun.dylib"
bindgen="$target_dir/debug/uniffi-bindgen"

for lang in kotlin swift; do
    out="$root/bindings/$lang"
    rm -rf "$out"
    mkdir -p "$out"
    "$bindgen" generate --no-format\
        --library "$lib" --language "$lang" --out-dir "$out"
done

echo "bindings regenerated:"
(cd "$root" && find bindings/kotlin bindings/swift -type f | sort)
