#!/usr/bin/env bash
# Builds apple/Ferrotun.xcframework: libferrotun.a for iOS devices, the iOS
# simulator (arm64 + x86_64) and macOS (arm64 + x86_64), with the generated
# C header and a module map for the `FerrotunFFI` module.
#
# Headers sit in a folder named after the module, Headers/FerrotunFFI/, not
# at the top of Headers/: Xcode copies the Headers/ of every static
# XCFramework in an app into one shared include/ directory, so two of them
# with a top-level module.modulemap fail with "Multiple commands produce
# .../include/module.modulemap". Clang finds Headers/FerrotunFFI/module.modulemap
# by itself when `import FerrotunFFI` is looked up (it tries <dir>/<Module>/
# module.modulemap for every header search path), which is why the folder
# name must be exactly the module name.
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

mkdir -p "$work/ios" "$work/ios-sim" "$work/macos" "$work/include/FerrotunFFI"
cp "$(lib aarch64-apple-ios)" "$work/ios/libferrotun.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libferrotun.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libferrotun.a"

cp "$root/bindings/swift/FerrotunFFI.h" "$work/include/FerrotunFFI/"
# Our own module map rather than the generated one: UniFFI's declares
# `use "_Builtin_stdbool"` / `use "_Builtin_stdint"`, modules that newer Xcode
# toolchains no longer provide (uniffi-rs issue 2917), and `use` declarations
# only matter with -fmodules-decluse anyway. Same module name and header.
cat > "$work/include/FerrotunFFI/module.modulemap" <<'MODULEMAP'
module FerrotunFFI {
    header "FerrotunFFI.h"
    export *
}
MODULEMAP

rm -rf "$here/Ferrotun.xcframework"
xcodebuild -create-xcframework \
    -library "$work/ios/libferrotun.a" -headers "$work/include" \
    -library "$work/ios-sim/libferrotun.a" -headers "$work/include" \
    -library "$work/macos/libferrotun.a" -headers "$work/include" \
    -output "$here/Ferrotun.xcframework"

# The layout the package and apps rely on; fail here rather than in an app build.
for slice in "$here"/Ferrotun.xcframework/*/; do
    [[ -f "$slice/Headers/FerrotunFFI/module.modulemap" && -f "$slice/Headers/FerrotunFFI/FerrotunFFI.h" ]] ||
        { echo "bad layout: $slice has no Headers/FerrotunFFI/{module.modulemap,FerrotunFFI.h}" >&2; exit 1; }
    [[ ! -e "$slice/Headers/module.modulemap" ]] ||
        { echo "bad layout: $slice has a top-level Headers/module.modulemap" >&2; exit 1; }
done

echo "built $here/Ferrotun.xcframework"
