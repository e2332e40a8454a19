#!/usr/bin/env bash
# Fails unless every given shared library has all its LOAD segments aligned to
# a multiple of 16 KB, which Android 15+ devices with 16 KB pages (and Google
# Play, for apps targeting them) require.
#
# The ELF reader is the NDK's llvm-readelf, found under ANDROID_NDK_HOME
# (or ANDROID_NDK_ROOT); LLVM_READELF=/path/to/readelf overrides it. Without
# one the check fails: it never skips silently.
#
# Usage: ./check-page-size.sh lib.so...
set -euo pipefail

(($# > 0)) || { echo "usage: $0 lib.so..." >&2; exit 2; }

find_readelf() {
    if [[ -n "${LLVM_READELF:-}" ]]; then
        echo "$LLVM_READELF"
        return
    fi
    local ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
    if [[ -z "$ndk" ]]; then
        echo "error: the 16 KB page check needs the NDK's llvm-readelf: set ANDROID_NDK_HOME (or LLVM_READELF)" >&2
        return 1
    fi
    local found
    found="$(compgen -G "$ndk/toolchains/llvm/prebuilt/*/bin/llvm-readelf" | head -n1 || true)"
    if [[ -z "$found" ]]; then
        echo "error: no llvm-readelf under $ndk/toolchains/llvm/prebuilt/*/bin: is ANDROID_NDK_HOME an NDK (r23+)?" >&2
        return 1
    fi
    echo "$found"
}

named="$(find_readelf)"
readelf="$(command -v "$named")" || { echo "error: $named is not an executable" >&2; exit 1; }

status=0
for so in "$@"; do
    [[ -f "$so" ]] || { echo "error: $so does not exist" >&2; status=1; continue; }
    aligns="$("$readelf" -lW "$so" | awk '$1 == "LOAD" { print $NF }')"
    if [[ -z "$aligns" ]]; then
        echo "error: $so has no LOAD segments (not a shared library?)" >&2
        status=1
        continue
    fi
    for align in $aligns; do
        if (( align < 16384 || align % 16384 != 0 )); then
            echo "error: $so has a LOAD segment aligned to $align bytes, not a multiple of 16 KB" >&2
            status=1
            break
        fi
    done
done
exit "$status"
