#!/usr/bin/env bash
# Fails when the committed bindings differ from a fresh generation.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash bindings/generate.sh >/dev/null
if ! git diff --exit-code --stat -- bindings/ || [[ -n "$(git status --porcelain -- bindings/)" ]]; then
    echo "bindings/ is stale: run bindings/generate.sh and commit the result" >&2
    git status --porcelain -- bindings/ >&2
    exit 1
fi
echo "bindings: fresh"
