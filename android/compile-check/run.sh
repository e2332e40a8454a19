#!/usr/bin/env bash
# Compiles the Android VpnService helper and the generated bindings against
# the Android framework classes (no Android SDK needed).
set -euo pipefail
cd "$(dirname "$0")"
exec mvn -B -ntp "$@" compile
