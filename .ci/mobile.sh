#!/usr/bin/env bash
# The mobile surface's CI: bindings are fresh, the Kotlin tests pass on the
# JVM through the generated bindings, and the Android helper compiles against
# the Android framework classes, and the 16 KB page check works. Needs cargo,
# Java 17, Maven (Central), a C compiler and readelf.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

echo "== bindings freshness"
bash .ci/check-bindings.sh

echo "== Kotlin tests on the JVM"
bash android/jvm-tests/run.sh

echo "== Android 16 KB page-size check"
bash android/test-check-page-size.sh

echo "== Android helper compiles against android-all"
bash android/compile-check/run.sh -q
echo "android helper: compiled"
