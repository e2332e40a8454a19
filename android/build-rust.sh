#!/usr/bin/env bash
# Builds libferrotun.so for the Android ABIs into <out>/<abi>/ and checks
# their 16 KB page alignment.
#
# Needs: cargo-ndk (`cargo install cargo-ndk`), an NDK in ANDROID_NDK_HOME
# (r27+ recommended) and the Rust targets:
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
#
# Every library is linked with 16 KB page alignment, which Google Play
# requires for apps targeting Android 15+ on 16 KB-page devices, and
# check-page-size.sh verifies it with the NDK's llvm-readelf (failing when
# there is none). The release profile keeps panic=unwind: the FFI layer turns
# panics into exceptions instead of aborting the app.
#
# Usage: ./build-rust.sh [--release|--debug] [--out DIR] [--abi ABI]...
#   default: release, DIR = src/main/jniLibs (the prebuilt libraries
#   -PferrotunSkipRust=true packages), all four ABIs. Gradle's buildRust task
#   passes --out build/rustJniLibs and its ABIs.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile=release
out="$here/src/main/jniLibs"
abis=()
while (($# > 0)); do
    case "$1" in
        --debug) profile=debug ;;
        --release) profile=release ;;
        --out) out="$2"; shift ;;
        --abi) abis+=("$2"); shift ;;
        *) echo "usage: $0 [--release|--debug] [--out DIR] [--abi ABI]..." >&2; exit 2 ;;
    esac
    shift
done
((${#abis[@]} > 0)) || abis=(arm64-v8a armeabi-v7a x86_64 x86)
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# Minimum API level the libraries link against; keep in sync with minSdk in build.gradle.kts.
platform=24
page_align="-C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="$page_align"
export CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS="$page_align"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="$page_align"
export CARGO_TARGET_I686_LINUX_ANDROID_RUSTFLAGS="$page_align"

args=(build --lib)
[[ $profile == release ]] && args+=(--release)
targets=()
for abi in "${abis[@]}"; do targets+=(-t "$abi"); done

cd "$root"
# Default features only: exactly the surface the bindings describe.
cargo ndk "${targets[@]}" --platform "$platform" -o "$out" "${args[@]}"

libs=()
for abi in "${abis[@]}"; do libs+=("$out/$abi/libferrotun.so"); done
bash "$here/check-page-size.sh" "${libs[@]}"
echo "built (16 KB aligned): ${libs[*]}"
