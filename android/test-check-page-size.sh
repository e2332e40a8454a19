#!/usr/bin/env bash
# Tests check-page-size.sh on host shared libraries built with 4 KB and
# 16/64 KB segment alignment (the check reads only ELF headers, so any
# architecture will do), and that it fails when it has no readelf.
# Needs a C compiler and llvm-readelf or GNU readelf. Prints "N passed, N failed".
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check="$here/check-page-size.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

reader="$(command -v llvm-readelf || command -v readelf)" || { echo "no readelf"; echo "0 passed, 1 failed"; exit 1; }
echo 'int ferrotun_probe(void) { return 1; }' >"$work/probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=4096 -Wl,-z,common-page-size=4096 -o "$work/4k-explicit.so" "$work/probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=16384 -o "$work/16k.so" "$work/probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=65536 -o "$work/64k.so" "$work/probe.c"
mkdir -p "$work/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin"
ln -s "$reader" "$work/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin/llvm-readelf"

passed=0
failed=0
expect() { # expect <pass|fail> <name> <command...>
    local want="$1" name="$2"
    shift 2
    if "$@" >/dev/null 2>&1; then got=pass; else got=fail; fi
    if [[ $got == "$want" ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $name (expected $want, got $got)"
    fi
}

ndk=(env -u LLVM_READELF -u ANDROID_NDK_ROOT ANDROID_NDK_HOME="$work/ndk")
expect pass "16 and 64 KB aligned libraries pass" "${ndk[@]}" bash "$check" "$work/16k.so" "$work/64k.so"
expect fail "a 4 KB aligned library fails" "${ndk[@]}" bash "$check" "$work/16k.so" "$work/4k-explicit.so"
expect fail "a missing library fails" "${ndk[@]}" bash "$check" "$work/none.so"
expect fail "no NDK and no LLVM_READELF fails, never skips" env -u ANDROID_NDK_HOME -u ANDROID_NDK_ROOT -u LLVM_READELF bash "$check" "$work/16k.so"
expect fail "an NDK path without llvm-readelf fails" env -u LLVM_READELF ANDROID_NDK_HOME="$work" bash "$check" "$work/16k.so"
expect pass "LLVM_READELF overrides the NDK" env -u ANDROID_NDK_HOME LLVM_READELF="$reader" bash "$check" "$work/16k.so"

echo "page-size check: $passed passed, $failed failed"
((failed == 0))
