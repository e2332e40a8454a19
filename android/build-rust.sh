#!/usr/bin/env bash
# Builds libferrotun.so for the Android ABIs into src/main/jniLibs/<abi>/.
#
# Needs: cargo-ndk (`cargo install cargo-ndk`), an NDK (ANDROID_NDK_HOME, r27+
# recommended) and the Rust targets:
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
#
# Every library is linked with 16 KB page alignment, which Google Play
# requires for apps targeting Android 15+ on 16 KB-page devices.
# The release profile keeps panic=unwind: the FFI layer turns panics into
# exceptions instead of aborting the app.
#
# Usage: ./build-rust.sh [--release]   (default: release; --debug for a debug build)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile=release
case "${1:-}" in
    --debug) profile=debug ;;
    --release | "") profile=release ;;
    *) echo "usage: $0 [--release|--debug]" >&2; exit 2 ;;
esac

# Minimum API level the libraries link against; keep in sync with minSdk in build.gradle.kts.
platform=24
page_align="-C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="$page_align"
export CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS="$page_align"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="$page_align"
export CARGO_TARGET_I686_LINUX_ANDROID_RUSTFLAGS="$page_align"

args=(build --lib)
[[ $profile == release ]] && args+=(--release)

cd "$root"
# Default features only: exactly the surface the bindings describe.
cargo ndk \
    -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 \
    --platform "$platform" \
    -o "$here/src/main/jniLibs" \
    "${args[@]}"

# Check the alignment took effect (LOAD segments aligned to 2**14).
if command -v llvm-readelf >/dev/null 2>&1; then
    for so in "$here"/src/main/jniLibs/*/libferrotun.so; do
        if llvm-readelf -lW "$so" | awk '$1 == "LOAD" { print $NF }' | grep -qv '0x4000'; then
            echo "error: $so is not 16 KB aligned" >&2
            exit 1
        fi
    done
fi
echo "built: $(ls "$here"/src/main/jniLibs/*/libferrotun.so | tr '\n' ' ')"
