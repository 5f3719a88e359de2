#!/usr/bin/env bash
# Command 1: build and run streamq on the built-in live demo source.
# Extra arguments go to `streamq serve` (e.g. --file ../shared/data/dev-events.jsonl.gz).
set -euo pipefail
cd "$(dirname "$0")"
STREAMQ_SETUP_KAFKA=0 STREAMQ_SETUP_TESTS=0 source scripts/setup.sh
cargo build --release --locked
exec "$CARGO_TARGET_DIR/release/streamq" serve "$@"
