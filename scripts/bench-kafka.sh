#!/usr/bin/env bash
# Consume throughput from a local Tansu broker: streamq (decode + apply + durable state) beside
# a plain librdkafka consumer (confluent-kafka, no decoding) reading the same topics in the same
# run. Prints both; the ratio is the figure the README quotes.
#   scripts/bench-kafka.sh [EVENTS]   (default: the dev file, 105 689 records)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/streamq"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
   --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
   >"$work/tansu.log" 2>&1) &
tansu=$!
trap 'kill $tansu 2>/dev/null; rm -rf "$work"' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do sleep 0.2; done
brokers="127.0.0.1:$port"
if [ -n "${1:-}" ]; then
  STREAMQ_LOG=warn "$bin" produce --brokers "$brokers" --source demo --limit "$1" > "$work/ends.json"
else
  STREAMQ_LOG=warn "$bin" produce --brokers "$brokers" --source replay ../shared/data/dev-events.jsonl.gz > "$work/ends.json"
fi
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('produced', s['produced'], 'records at', round(s['records_per_second']), 'records/s')" "$work/ends.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); json.dump(s['end_offsets'], open(sys.argv[2],'w'))" "$work/ends.json" "$work/offsets.json"
for round in 1 2 3; do
  python3 tests/fixtures/kafka_tool.py consume --brokers "$brokers" --ends "$work/offsets.json" |
    python3 -c "import json,sys; r=json.load(sys.stdin); print(f\"raw librdkafka (confluent-kafka, no decode): {r['consumed']} records in {r['seconds']:.2f} s = {r['records_per_second']:.0f} records/s\")"
  STREAMQ_LOG=warn "$bin" bench kafka --brokers "$brokers" --ends "$work/ends.json"
done
