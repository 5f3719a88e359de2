#!/usr/bin/env bash
# Command 2: the whole check — formatting, lints, every test (unit and integration, against
# real parts: the reference data under ../shared, the shared evaluation script), benches built.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
[ -d ../shared/data ] || { echo "test.sh: ../shared (the reference data) must sit beside this checkout" >&2; exit 1; }
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --benches
cargo test --locked --no-fail-fast
# The REST (authorization matrix) and WebSocket tests once more, every server on HTTPS with a
# certificate a CA made for this run signs; the tests' clients trust that CA alone.
tls_dir="$(mktemp -d)"
STREAMQ_TEST_TLS="$tls_dir" cargo test --locked --test auth --test ws
rm -rf "$tls_dir"
