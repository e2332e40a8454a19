#!/usr/bin/env bash
# Builds the host libferrotun.so and runs the Kotlin JVM tests against it
# through the committed bindings (bindings/kotlin).
#
# The tests create their socketpairs through JNA's libc, so the library is the
# plain build: the same surface an app gets.
# Honours CARGO_TARGET_DIR; extra arguments go to Maven (e.g. -Dtest=KeysTest).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

(cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build --lib)

cd "$here"
exec mvn -B -ntp -Dferrotun.lib.dir="$target_dir/debug" "$@" test
