#!/usr/bin/env bash
# Bounded fuzzing: builds every cargo-fuzz target in fuzz/, runs each for
# FUZZ_SECONDS (default 60) starting from its committed seed corpus, and
# fails if any target crashes (panic, broken invariant, leak, timeout, OOM).
# Prints libFuzzer's final line per target (executions, coverage) and a
# closing "N passed, N failed" for CI, which does not read libFuzzer output.
# Installs its own prerequisites: a nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
# RSS limit per target: the harness holds two nodes and a few captured
# datagrams; anything near this is a leak.
RSS_LIMIT_MB=2048
# One input taking this long is a hang (the slowest seeds take milliseconds).
TIMEOUT_SECONDS=10
# No AddressSanitizer: the targets reach only safe Rust (node, config, FFI
# record conversion; Ferrotun's unsafe code is in io/, ffi scaffolding and
# platform/, which they do not call), and ASan halves the executions per
# second of the crypto-heavy targets and lengthens the build.
SANITIZER=(--sanitizer none)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The fuzz crate is its own workspace, so the root fmt/clippy do not see it.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -q -- -D warnings

start=$(date +%s)
cargo +nightly fuzz build "${SANITIZER[@]}"
echo "built in $(($(date +%s) - start)) s"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$out/$target/corpus" "$out/$target/artifacts"
    log="$out/$target/log"
    echo "== fuzz $target (${SECONDS_PER_TARGET} s)"
    # New inputs go to the first corpus directory, a scratch one, so the
    # committed seeds stay as they are.
    if cargo +nightly fuzz run "${SANITIZER[@]}" "$target" "$out/$target/corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" \
        -timeout="$TIMEOUT_SECONDS" -artifact_prefix="$out/$target/artifacts/" \
        -print_final_stats=1 >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "$target: ok: $(grep -a 'DONE' "$log" | tail -n 1)"
    else
        failed=$((failed + 1))
        echo "$target: FAILED; last lines of its log:"
        tail -n 40 "$log"
        for artifact in "$out/$target/artifacts"/*; do
            [ -e "$artifact" ] || continue
            echo "crash input ($(basename "$artifact")), base64:"
            base64 -w0 "$artifact"
            echo
        done
    fi
done

echo "fuzzing took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
