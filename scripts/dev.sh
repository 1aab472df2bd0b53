#!/usr/bin/env bash
# `make dev`: the moto server plus the local stack, seeded with the demo webhooks.
# Ctrl-C (or a TERM) stops both.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
mkdir -p target

ensure_venv
cargo build --bin local-stack
STACK_PID=""
cleanup() {
  if [ -n "$STACK_PID" ]; then kill "$STACK_PID" 2>/dev/null || true; wait "$STACK_PID" 2>/dev/null || true; fi
  stop_moto
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start_moto "${MOTO_PORT:-}"
"${CARGO_TARGET_DIR:-target}/debug/local-stack" &
STACK_PID=$!
wait "$STACK_PID"
