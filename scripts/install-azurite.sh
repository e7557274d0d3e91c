#!/usr/bin/env bash
# Install the Azurite storage emulator (npm package `azurite`, major version 3)
# into <repo>/.tools, for the state-store tests (tests/azurite.py).
# Idempotent: does nothing when .tools/node_modules/.bin/azurite-blob exists.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/.tools/node_modules/.bin/azurite-blob"

if [[ -x "$BIN" ]]; then
  echo "azurite already installed: $BIN"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js (>= 18) first, then re-run $0" >&2
  exit 1
fi

mkdir -p "$REPO/.tools"
npm install --prefix "$REPO/.tools" --no-audit --no-fund azurite@3
if [[ ! -x "$BIN" ]]; then
  echo "azurite install finished but $BIN is missing" >&2
  exit 1
fi
echo "azurite installed: $BIN ($("$BIN" --version 2>/dev/null || echo '?'))"
