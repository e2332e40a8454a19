#!/usr/bin/env bash
# Builds and tests the core for the CPUs and OSes it ships to, from an x86-64
# Debian machine. `.ci/run` runs it after the host tests; a developer runs it
# the same way (as root to include the network-namespace tests):
#
#   bash .ci/cross.sh                  # everything below
#   bash .ci/cross.sh aarch64 android  # only some of it
#
#   aarch64  aarch64-unknown-linux-gnu (ARM64, what phones run): every Rust
#            test target, built once, run under qemu-aarch64 (user-mode
#            emulation), then the library's tests on boringtun's mock clock
#            (`--features testing`); as root also the netns end-to-end
#            tests, with the ARM64 `ferrotun` against the host's wireguard-go.
#   armv7    armv7-unknown-linux-gnueabihf (32-bit ARM): the same under
#            qemu-arm, so code that assumes a 64-bit `usize` fails here.
#   android  the library for the four ABIs android/build-rust.sh ships,
#            type-checked: `cargo check --lib` and `cargo clippy --lib -D warnings`.
#
# The Linux tests build with the `cross` profile (Cargo.toml): optimised,
# because emulated debug-build crypto is slow, with overflow checks and debug
# assertions on. Cross artifacts land in target/<triple>/; the host's
# target/debug is reused for build scripts.
#
# Installs what it needs (root, Debian): the Rust targets, the aarch64 and
# armhf cross compilers and libcs, qemu-user, clang and llvm-ar; for the netns
# tests what .ci/install-e2e.sh installs. The netns tests hold
# /tmp/ferrotun-netns.lock while they run, like every other netns user here.
# Without root they are reported as skipped; under CI=true that is a failure.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

usage() {
    echo "usage: $0 [aarch64] [armv7] [android]   (default: all)" >&2
    exit 2
}
want=("$@")
((${#want[@]})) || want=(aarch64 armv7 android)
for w in "${want[@]}"; do
    case "$w" in aarch64 | armv7 | android) ;; *) usage ;; esac
done
wants() { [[ " ${want[*]} " == *" $1 "* ]]; }

is_root() { [ "$(id -u)" = 0 ]; }
ci() { [ "${CI:-}" = true ]; }

# ---------------------------------------------------------------------------
# Prerequisites.

linux_triples=()
wants aarch64 && linux_triples+=(aarch64-unknown-linux-gnu)
wants armv7 && linux_triples+=(armv7-unknown-linux-gnueabihf)
# android/build-rust.sh's ABIs: arm64-v8a, armeabi-v7a, x86_64, x86.
android_triples=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android)

install_prerequisites() {
    local pkgs=() need=() targets=("${linux_triples[@]}")
    wants aarch64 && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
    wants armv7 && pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user)
    wants android && pkgs+=(clang llvm) && targets+=("${android_triples[@]}")
    for pkg in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            need+=("$pkg")
    done
    if ((${#need[@]})); then
        is_root || { echo "cross: needs these Debian packages (run as root to install): ${need[*]}" >&2; return 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
            return 1
    fi
    rustup target add "${targets[@]}" >/dev/null 2>&1 || rustup target add "${targets[@]}" || return 1
    rustup component add clippy >/dev/null 2>&1 || true
    # The netns tests' tools (ip, wg, wireguard-go, python3, ...).
    if ((${#linux_triples[@]})) && is_root; then
        bash .ci/install-e2e.sh || return 1
    fi
}

# ---------------------------------------------------------------------------
# Bookkeeping: every step ends in one summary row; any failure fails the run.

summary=()
failures=0
total_passed=0
total_failed=0
total_skipped=0

# Sums the `test result:` lines of a cargo test log: "passed failed ignored".
count_results() {
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed;/)  p += $i
                if ($(i+1) ~ /^failed;/)  f += $i
                if ($(i+1) ~ /^ignored;/) g += $i
            }
         } END { printf "%d %d %d\n", p, f, g }' "$1"
}

row() { summary+=("$(printf '%-32s %-44s %s' "$1" "$2" "$3")"); }

# ---------------------------------------------------------------------------
# Linux targets: build once, run every test target under qemu-user.

# Cargo's runner and linker settings for one triple.
linux_env() {
    local triple="$1" upper gcc sysroot qemu
    upper="$(echo "$triple" | tr 'a-z-' 'A-Z_')"
    case "$triple" in
    aarch64-*) gcc=aarch64-linux-gnu-gcc sysroot=/usr/aarch64-linux-gnu qemu=qemu-aarch64 ;;
    armv7-*) gcc=arm-linux-gnueabihf-gcc sysroot=/usr/arm-linux-gnueabihf qemu=qemu-arm ;;
    esac
    runner="$qemu -L $sysroot"
    export "CARGO_TARGET_${upper}_LINKER=$gcc"
    export "CARGO_TARGET_${upper}_RUNNER=$runner"
    # Tests that spawn the `ferrotun` binary put the emulator in front of it
    # (tests/ferrotun_cli): cargo's runner wraps only the test binaries.
    export "FERROTUN_BIN_RUNNER=$runner"
    export "CC_${triple//-/_}=$gcc"
}

linux_target() {
    local triple="$1" start=$SECONDS log p f g
    local cargo_args=(--profile cross --target "$triple" --all-targets --no-fail-fast) ignored
    linux_env "$triple"
    log="$(mktemp)"

    echo "== $triple: build (cargo test --no-run ${cargo_args[*]})"
    if ! cargo test "${cargo_args[@]}" --no-run; then
        row "$triple" "build" "FAILED"
        failures=$((failures + 1)) total_failed=$((total_failed + 1))
        return
    fi
    local built=$((SECONDS - start))

    echo "== $triple: tests under ${runner%% *} (netns tests stay ignored here)"
    cargo test "${cargo_args[@]}" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    read -r p f g < <(count_results "$log")
    ignored=$g
    ((rc == 0)) || { failures=$((failures + 1)); ((f > 0)) || f=1; }
    total_passed=$((total_passed + p)) total_failed=$((total_failed + f))
    row "$triple" "unit, in-process, lifecycle, ... (${runner%% *})" \
        "$p passed, $f failed, $g ignored (netns and mock clock: next rows); build ${built}s"

    # The node's timer tests need boringtun's mock clock (feature `testing`),
    # which the tests on real tunnels must not get: the library's tests
    # again, with it (as tests/run-all.sh does).
    local mock
    mock="$(grep -c "ignored, needs boringtun's mock clock" "$log" || true)"
    echo "== $triple: library tests on boringtun's mock clock (--lib --features testing)"
    cargo test --profile cross --target "$triple" --lib --features testing 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    read -r p f g < <(count_results "$log")
    ((rc == 0)) || { failures=$((failures + 1)); ((f > 0)) || f=1; }
    total_passed=$((total_passed + p)) total_failed=$((total_failed + f))
    ignored=$((ignored - mock))
    row "$triple" "library on the mock clock (--features testing)" \
        "$p passed, $f failed, $g ignored (the $mock the row above ignored, and the rest again)"

    # The same netns tests as tests/run-all.sh, with the emulated `ferrotun`
    # (FERROTUN_BIN_RUNNER puts qemu behind `ip netns exec` and tunfd.py).
    # `--ignored`: the rest of netns_e2e already ran above.
    local what="netns e2e vs wireguard-go (${runner%% *})"
    if ! is_root; then
        total_skipped=$((total_skipped + ignored))
        if ci; then
            row "$triple" "$what" "FAILED: CI=true but not root"
            failures=$((failures + 1)) total_failed=$((total_failed + 1))
        else
            row "$triple" "$what" "skipped ($ignored ignored tests): needs root"
        fi
    else
        local net_start=$SECONDS
        echo "== $triple: netns end-to-end tests under ${runner%% *} (waiting for /tmp/ferrotun-netns.lock)"
        flock /tmp/ferrotun-netns.lock \
            cargo test "${cargo_args[@]/--all-targets/--test=netns_e2e}" -- --ignored 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        read -r p f g < <(count_results "$log")
        ((rc == 0)) || { failures=$((failures + 1)); ((f > 0)) || f=1; }
        total_passed=$((total_passed + p)) total_failed=$((total_failed + f))
        # Whatever the first run ignored and this one did not run stays skipped.
        ((ignored > p + f)) && total_skipped=$((total_skipped + ignored - p - f))
        local ran
        ran="$(awk '/^test result:/ { t = $NF } END { print t }' "$log")"
        row "$triple" "$what" "$p passed, $f failed, $g ignored; ${ran:-?} ($((SECONDS - net_start))s with the lock wait)"
    fi
    rm -f "$log"
    echo "== $triple: done in $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------
# Android: type-check the library for each ABI. No NDK here, so nothing is
# linked (android/build-rust.sh and .github/workflows/mobile.yml build the
# real libraries with the NDK). ring's build script still compiles its C and
# assembly, which Debian's clang does for the Android triples; for libc
# headers there is no sysroot, so ring builds in its own no-libc mode
# (RING_CORE_NOSTDLIBINC, the mode it uses for musl and wasm cross builds)
# and clang's freestanding headers stand in for the NDK's. That C is checked
# for compiling, never shipped.

android_targets() {
    local start=$SECONDS passed=0 failed=0 api triple clang_triple u
    # The API level the real build links against (minSdk).
    api="$(sed -n 's/^platform=\([0-9][0-9]*\).*/\1/p' android/build-rust.sh)"
    [ -n "$api" ] || api=24
    for triple in "${android_triples[@]}"; do
        clang_triple="${triple/armv7-/armv7a-}$api"
        u="${triple//-/_}"
        export "CC_$u=clang" "AR_$u=llvm-ar"
        export "CFLAGS_$u=--target=$clang_triple -ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1"
        for step in check clippy; do
            local args=("$step" --lib --target "$triple")
            [ "$step" = clippy ] && args+=(-- -D warnings)
            echo "== $triple: cargo ${args[*]}"
            if cargo "${args[@]}"; then
                passed=$((passed + 1))
                echo "ok: cargo $step --lib --target $triple"
            else
                failed=$((failed + 1))
                echo "FAILED: cargo $step --lib --target $triple"
            fi
        done
    done
    # This runner is not cargo test: say it the way CI reads.
    echo "android: $passed passed, $failed failed"
    ((failed == 0)) || failures=$((failures + 1))
    total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
    row "android (4 ABIs, API $api)" "cargo check + clippy -D warnings, --lib" \
        "$passed passed, $failed failed; $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------

echo "== cross: installing prerequisites"
if ! install_prerequisites; then
    echo "cross: installing prerequisites failed" >&2
    echo "cross: 0 passed, 1 failed"
    exit 1
fi

for triple in "${linux_triples[@]}"; do
    linux_target "$triple"
done
wants android && android_targets

echo
echo "== cross summary (${SECONDS}s)"
printf '%s\n' "${summary[@]}"
echo "cross: $total_passed passed, $total_failed failed, $total_skipped skipped"
((failures == 0))
