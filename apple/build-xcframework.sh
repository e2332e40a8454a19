#!/usr/bin/env bash
# Builds apple/Ferrotun.xcframework: libferrotun.a for iOS devices, the iOS
# simulator (arm64 + x86_64) and macOS (arm64 + x86_64), with the generated
# C header and module map as the `FerrotunFFI` module.
#
# Needs macOS with Xcode and the Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#                     aarch64-apple-darwin x86_64-apple-darwin
#
# Run bindings/generate.sh first if the Rust API changed (the Swift file and
# header committed under bindings/swift must match the library).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TARGET_DIR="$target_dir"
# The Network Extension's deployment target; keep in sync with Package.swift.
export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
cd "$root"
for t in "${targets[@]}"; do
    # Default features only: exactly the surface the bindings describe.
    cargo build --lib --release --target "$t"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lib() { echo "$target_dir/$1/release/libferrotun.a"; }

mkdir -p "$work/ios" "$work/ios-sim" "$work/macos" "$work/include"
cp "$(lib aarch64-apple-ios)" "$work/ios/libferrotun.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libferrotun.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libferrotun.a"

cp "$root/bindings/swift/FerrotunFFI.h" "$work/include/"
# Xcode looks for the module map under this exact name inside the headers dir.
cp "$root/bindings/swift/FerrotunFFI.modulemap" "$work/include/module.modulemap"

rm -rf "$here/Ferrotun.xcframework"
xcodebuild -create-xcframework \
    -library "$work/ios/libferrotun.a" -headers "$work/include" \
    -library "$work/ios-sim/libferrotun.a" -headers "$work/include" \
    -library "$work/macos/libferrotun.a" -headers "$work/include" \
    -output "$here/Ferrotun.xcframework"

echo "built $here/Ferrotun.xcframework"
