#!/usr/bin/env bash
# Reruns every figure of BENCHMARKS.md. Prints; never fails on a missed budget.
#
#   infra/bench/run.sh [all|build|sizes|compare|callgrind|memory|deploy-build|soak|realtime|batch]
#                      (default: all = build, sizes, compare, callgrind)
#
# `deploy-build` times `infra/hub deploy-build` from an empty target directory (every function,
# arm64, as deployed) and prints every function's zipped size against the 4 MB budget
# (DEPLOY_BUILD_ARGS=--fast for the profile without LTO).
#
# compare and callgrind run twice (MODES="http tls"): against moto over plain HTTP, the earlier
# figures' method, then as production runs, over TLS through a kept-alive front with a CA made
# for the run (infra/src/tls.rs). `memory` runs cold starts over TLS at each Lambda memory size's
# CPU share (MEMORY_SIZES, "128 256 512 1024 1769"; needs root for the cgroup).
#
# `soak` (not part of `all`: it takes about half an hour) starts a local stack of its own and
# writes a practice's worth of records through its API (SOAK_WRITES, 20000, printed every
# SOAK_EVERY, 2000, SOAK_CONCURRENCY requests in flight, 4): moto's and the stack's memory, p50/p99.
#
# `realtime` (not part of `all`) starts a local stack of its own, opens REALTIME_CONNECTIONS (50)
# WebSockets of one organization, writes REALTIME_CHANGES (1000) contacts REALTIME_CONCURRENCY (4)
# at a time, as fast as they go and then at 10/s (REALTIME_RATES, "0 10"), and prints
# write-to-event latency, the fan-out's DynamoDB requests, CPU and (callgrind, release build)
# instructions per posted message, and the stack's memory with REALTIME_IDLE (500) more
# connections open.
#
# `batch` (not part of `all`) compares a batch of BATCH_OPERATIONS (100) creates, and an atomic
# batch of BATCH_ATOMIC (11, what one transaction holds of typical patients), with the same
# creates one by one: DynamoDB requests per contact, wall time, and instructions (callgrind).
#
# `import` (not part of `all`; about 15 minutes) starts a local stack of its own and imports a CSV
# of generated contacts per IMPORT_ROWS size ("10000 50000") through the real path (presigned PUT,
# start, ImportQueue relayed to imports-worker under cargo lambda watch): rows/s from start to
# done, requests to the emulator per row (moto's request profile), and imports-worker's VmHWM.
#
# Knobs (environment): COLD (cold starts per binary, 20), INVOCATIONS (events per cold start, 100),
# WARM (warm invocations under callgrind, 20), OUT (results directory, target/bench/results),
# BENCH_ARGS (extra lambda-bench options for compare and callgrind, e.g. "--env SSL_CERT_FILE=..."),
# BENCH_FUNCTIONS (crates to build, e.g. "contacts health"; default all), BENCH_BINS (only these
# binaries of them, e.g. "contacts-get documents-get"; default every binary).
#
# Two release builds, each one cargo invocation (2 cores: each takes a while):
#   1. arm64, what is deployed: `cargo lambda build --release --arm64 --output-format zip` of every
#      function and the hello-world, for the package sizes;
#   2. x86_64, this machine, for timings, memory and callgrind: the same release profile with
#      symbols kept (CARGO_PROFILE_RELEASE_STRIP=false) so callgrind can name functions. Stripping
#      removes only the symbol table, which is never loaded, so the code measured is the code
#      shipped. Its own target dir, so it never replaces anyone's target/release binaries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
STEP="${1:-all}"
COLD="${COLD:-20}"
INVOCATIONS="${INVOCATIONS:-100}"
WARM="${WARM:-20}"
OUT="${OUT:-$ROOT/target/bench/results}"
read -r -a EXTRA <<<"${BENCH_ARGS:-}"
BENCH_TARGET="$ROOT/target/bench"
X86="$BENCH_TARGET/release"
ARM_DIR="$BENCH_TARGET/lambda-arm64"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

tool() { # project venv first, then PATH
  if [ -x "$ROOT/.venv/bin/$1" ]; then echo "$ROOT/.venv/bin/$1"; elif command -v "$1" >/dev/null; then command -v "$1"; else
    echo "missing $1: run the project's setup (it creates .venv) or pip install it" >&2; return 1; fi
}

# Function crates to size: every one under functions/, or those named in BENCH_FUNCTIONS
# (e.g. "contacts health").
function_dirs() {
  if [ -n "${BENCH_FUNCTIONS:-}" ]; then for f in $BENCH_FUNCTIONS; do echo "functions/$f"; done
  else for d in functions/*/; do echo "${d%/}"; done; fi
}

build() {
  local bins=(--bin hello) packages=(-p hub-bench) d f
  for d in $(function_dirs); do
    packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$d/Cargo.toml" | head -1)")
    if [ -z "${BENCH_BINS:-}" ]; then for f in "$d"/src/bin/*.rs; do bins+=(--bin "$(basename "$f" .rs)"); done; fi
  done
  # BENCH_BINS="contacts-get documents-get ...": only those binaries (of the crates above).
  for f in ${BENCH_BINS:-}; do bins+=(--bin "$f"); done
  echo "== build 1/2: arm64 zips (cargo lambda)" >&2
  # The standard library for the deployed target, from the toolchain's own channel (no-op when present).
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
  # cargo-lambda runs cargo-zigbuild and zig, which the pip package ships (python-zig).
  PATH="$(dirname "$(tool cargo-lambda)"):$PATH" \
    "$(tool cargo-lambda)" lambda build --release --arm64 --output-format zip --lambda-dir "$ARM_DIR" \
    "${packages[@]}" "${bins[@]}"
  echo "== build 2/2: x86_64 for timings and callgrind (same profile, symbols kept)" >&2
  CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target-dir "$BENCH_TARGET" \
    -p hub-contacts -p hub-documents -p hub-audit -p hub-bench --bin hello --bin contacts-get --bin contacts-create \
    --bin documents-create --bin documents-complete --bin documents-download --bin audit-stream --bin lambda-bench
}

machine() {
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(uname -sr)"
  echo "- toolchain: $(rustc -V), valgrind $(valgrind --version 2>/dev/null | sed 's/valgrind-//')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
}

MOTO_PID=""
FRONT_PID=""
stop_moto() {
  for pid in "$FRONT_PID" "$MOTO_PID"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  MOTO_PID="" FRONT_PID=""
}
trap stop_moto EXIT INT TERM

# The TLS front (infra/src/tls.rs) is built apart from the measured binaries, so that its crates
# and features never reach them.
tls_front_bin() {
  cargo build --quiet --bin tls-front >&2
  echo "$ROOT/target/debug/tls-front"
}

# moto on a free loopback port, and the environment the contacts functions and the bench read.
# `stack tls`: the functions reach moto as they reach DynamoDB in production, over TLS on a kept-alive
# connection, verifying an RSA-2048 root → intermediate → leaf chain whose root (made now, in
# $OUT, never committed) they are told to trust through HUB_AWS_EXTRA_CA_FILE.
stack() {
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # The same serial moto as the tests and the local stack (see infra/moto_serial.py).
  "$ROOT/.venv/bin/python" "$ROOT/infra/moto_serial.py" 127.0.0.1 "$port" >"$OUT/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
  unset HUB_AWS_EXTRA_CA_FILE
  if [ "${1:-http}" = tls ]; then
    local front url
    front="$(tls_front_bin)"
    coproc TLS_FRONT { exec "$front" --upstream "127.0.0.1:$port" --ca-file "$OUT/bench-ca.pem"; }
    FRONT_PID=$TLS_FRONT_PID
    read -r url <&"${TLS_FRONT[0]}"
    export AWS_ENDPOINT_URL="$url" HUB_AWS_EXTRA_CA_FILE="$OUT/bench-ca.pem"
  fi
  export HUB_TABLE="bench-business-$RANDOM" HUB_AUDIT_TABLE="bench-audit-$RANDOM" HUB_DOCUMENTS_BUCKET="bench-documents-$RANDOM"
  curl -fsS -X PUT "http://127.0.0.1:$port/$HUB_DOCUMENTS_BUCKET" >/dev/null
  HUB_CURSOR_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  JWT_HS256_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  export HUB_CURSOR_SECRET JWT_HS256_SECRET
  export JWT_ISSUER=https://identity.bench.local JWT_AUDIENCE=hub-api
  unset RUST_LOG HUB_LOG_LEVEL
}

sizes() {
  { echo "## Package sizes (arm64, cargo lambda build --release --arm64 --output-format zip)"; echo; machine; echo
    "$X86/lambda-bench" sizes "$ARM_DIR" --bins "$ROOT/target/aarch64-unknown-linux-gnu/release"; } | tee "$OUT/sizes.md"
}

# Whether a binary links aws-lc's CPU-jitter entropy (the x86_64 bench build keeps symbols).
jitter() {
  local b
  for b in "$@"; do
    if grep -q jent_entropy_init "$X86/$b"; then echo "- $b: links CPU-jitter entropy"; else echo "- $b: no CPU-jitter entropy (seeded by getrandom)"; fi
  done
}

# MODES: "http tls" (default): moto over plain HTTP (the earlier figures' method), then over TLS.
MODES="${MODES:-http tls}"

compare() {
  local mode
  for mode in $MODES; do compare_mode "$mode"; done
}

compare_mode() {
  stack "$1"
  { machine; echo "- mode: $1 (AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL)"; echo
    "$X86/lambda-bench" compare --hello "$X86/hello" --get "$X86/contacts-get" --create "$X86/contacts-create" \
      --cold "$COLD" --invocations "$INVOCATIONS" --logs "$OUT/logs" "${EXTRA[@]}"; } | tee "$OUT/compare-$1.md"
  stop_moto
}

profile() {
  local mode
  for mode in $MODES; do profile_mode "$mode"; done
}

profile_mode() {
  stack "$1"
  { machine; echo "- mode: $1 (AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL)"; jitter contacts-get contacts-create documents-download audit-stream; echo
    "$X86/lambda-bench" callgrind --bootstrap "$X86/contacts-get" --create "$X86/contacts-create" \
      --warm "$WARM" --out "$OUT/callgrind-$1" --logs "$OUT/logs" "${EXTRA[@]}"
    local b
    for b in contacts-create documents-download audit-stream; do
      "$X86/lambda-bench" callgrind --bootstrap "$X86/$b" --warm "$WARM" --out "$OUT/callgrind-$1" --logs "$OUT/logs" "${EXTRA[@]}"
    done
    "$X86/lambda-bench" callgrind --bootstrap "$X86/hello" --warm "$WARM" --out "$OUT/callgrind-$1" --logs "$OUT/logs"
  } | tee "$OUT/callgrind-$1.md"
  stop_moto
}

# A batch of creates against the same creates one by one: DynamoDB requests (counted by an SDK
# interceptor, batch-bench) and instructions per created contact (callgrind, release binaries).
batch() {
  CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target-dir "$BENCH_TARGET" \
    -p hub-contacts -p hub-bench --bin contacts-create --bin contacts-batch --bin lambda-bench --bin batch-bench
  stack http
  { machine; echo "- mode: http (AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL)"; echo
    "$X86/batch-bench" --operations "${BATCH_OPERATIONS:-100}" --atomic "${BATCH_ATOMIC:-11}"; echo
    "$X86/lambda-bench" callgrind --bootstrap "$X86/contacts-create" --warm "${BATCH_WARM:-100}" --top "${BATCH_TOP:-0}" \
      --out "$OUT/callgrind-batch" --logs "$OUT/logs"
    "$X86/lambda-bench" callgrind --bootstrap "$X86/contacts-batch" --event "contacts-batch:${BATCH_OPERATIONS:-100}" \
      --warm 1 --top "${BATCH_TOP:-0}" --out "$OUT/callgrind-batch" --logs "$OUT/logs"
    "$X86/lambda-bench" callgrind --bootstrap "$X86/contacts-batch" \
      --event "contacts-batch-atomic:${BATCH_ATOMIC:-11}" --warm 5 --top "${BATCH_TOP:-0}" --out "$OUT/callgrind-batch" --logs "$OUT/logs"
  } | tee "$OUT/batch.md"
  stop_moto
}

# Cold and warm latency of contacts-get and contacts-create over TLS at each memory size, with
# the CPU share Lambda gives it (infra/bench/cpu-share.sh; needs root for the cgroup).
memory() {
  stack tls
  { machine; echo "- mode: tls, CPU share of each memory size enforced by a CFS quota (cpu-share.sh)"; echo
    local mb b extra
    for b in contacts-get contacts-create; do
      for mb in ${MEMORY_SIZES:-128 256 512 1024 1769}; do
        extra=(); [ "$b" = contacts-get ] && extra=(--create "$X86/contacts-create")
        echo "### $b at $mb MB"; echo
        "$X86/lambda-bench" run --bootstrap "$X86/$b" "${extra[@]}" --cold "${COLD_MEMORY:-10}" --invocations 20 \
          --wrap "$ROOT/infra/bench/cpu-share.sh $mb" --logs "$OUT/logs" "${EXTRA[@]}"
      done
    done
  } | tee "$OUT/memory.md"
  stop_moto
  # The empty cgroups cpu-share.sh made (their processes have exited).
  rmdir /sys/fs/cgroup/cpu/hub-bench-* /sys/fs/cgroup/hub-bench-* 2>/dev/null || true
}

# The deploy build (issue 10: every function, cold, at most 15 min on 2 cores): `infra/hub
# deploy-build` in a target directory of its own, emptied first, so nothing is reused; then every
# function's bootstrap zipped as Lambda receives it (deflate, what cargo lambda and sam package do).
deploy_build() {
  local target="$BENCH_TARGET/deploy-cold" started elapsed
  rm -rf "$target"
  started=$SECONDS
  # DEPLOY_BUILD_ARGS=--fast: the profile without LTO.
  CARGO_TARGET_DIR="$target" infra/hub deploy-build ${DEPLOY_BUILD_ARGS:-}
  elapsed=$((SECONDS - started))
  { echo "## Deploy build (infra/hub deploy-build ${DEPLOY_BUILD_ARGS:-}, cold target directory)"; echo; machine; echo
    echo "every function, cold: $((elapsed / 60)) min $((elapsed % 60)) s on $(nproc) cores (budget: 15 min)"
    echo
    "$(tool python)" - "$ROOT/.aws-sam/build" <<'PY'
import pathlib, sys, zipfile, io
rows = []
for boot in sorted(pathlib.Path(sys.argv[1]).glob("*/bootstrap")):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(boot, "bootstrap")
    rows.append((len(buf.getvalue()), boot.stat().st_size, boot.parent.name))
rows.sort(reverse=True)
print("| function | bootstrap.zip | bootstrap | verdict |")
print("|---|---|---|---|")
for zipped, raw, name in rows:
    print(f"| {name} | {zipped:,} B | {raw:,} B | {'pass' if zipped < 4_000_000 else '**miss**'} |")
over = sum(1 for r in rows if r[0] >= 4_000_000)
print(f"\n{len(rows)} functions, {over} at or over 4,000,000 B zipped")
PY
  } | tee "$OUT/deploy-build.md"
}

import() {
  # As soak: the stack's debug functions (what `infra/hub up` runs), and the driver built alike.
  # Drivers are chosen by `--bin` alone: `-p` would resolve features for one package and build
  # the whole dependency graph a second time in target/debug.
  cargo build --workspace --bins --quiet
  local sizes=() rows
  for rows in ${IMPORT_ROWS:-10000 50000}; do sizes+=(--rows "$rows"); done
  { machine; echo
    MOTO_SERIAL_PROFILE="$OUT/import-moto" cargo run --quiet --bin import -- "${sizes[@]}"
  } | tee "$OUT/import.md"
}

soak() {
  # The stack runs the debug functions, as `infra/hub up` does; the driver is built alike.
  cargo build --workspace --bins --quiet
  { machine; echo
    cargo run --quiet --bin hub-soak -- --writes "${SOAK_WRITES:-20000}" --every "${SOAK_EVERY:-2000}" \
      --concurrency "${SOAK_CONCURRENCY:-4}"; } | tee "$OUT/soak.md"
}

realtime() {
  # As soak: the stack's debug functions, and a driver built alike; and, for the instruction
  # counts, the release fan-out (the deployed profile, symbols kept) and lambda-bench.
  cargo build --workspace --bins --quiet
  CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --quiet --target-dir "$BENCH_TARGET" \
    -p hub-realtime -p hub-bench --bin realtime-fanout --bin lambda-bench
  { machine; echo
    for rate in ${REALTIME_RATES:-0 10}; do
      cargo run --quiet --bin realtime -- --changes "${REALTIME_CHANGES:-1000}" \
        --connections "${REALTIME_CONNECTIONS:-50}" --concurrency "${REALTIME_CONCURRENCY:-4}" --rate "$rate" \
        --idle "${REALTIME_IDLE:-500}" --callgrind "$X86"
    done; } | tee "$OUT/realtime.md"
}

case "$STEP" in
  build) build ;;
  soak) soak ;;
  import) import ;;
  realtime) realtime ;;
  sizes) sizes ;;
  compare) compare ;;
  callgrind) profile ;;
  memory) memory ;;
  deploy-build) deploy_build ;;
  batch) batch ;;
  all) build; sizes; compare; profile ;;
  *) echo "usage: $0 [all|build|sizes|compare|callgrind|memory|deploy-build|soak|realtime]" >&2; exit 2 ;;
esac
echo "results in $OUT" >&2
