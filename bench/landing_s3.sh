#!/usr/bin/env bash
# Batch throughput into an object store against a local folder, in the same
# run (issue 15: s3:// must reach >= 80% of the local folder's throughput).
#
#   bash bench/landing_s3.sh                  # 90 days of BOG, 5 runs each, interleaved
#   DAYS=30 RUNS=3 bash bench/landing_s3.sh
#
# Each run is `tarmac ingest batch --simulator` (the built-in simulator,
# realistic day shape, seed 1, no rate limit to speak of: 100000/1) in a
# fresh working directory with a fresh warehouse, timed from the outside;
# the S3 runs land in a fresh bucket of a local S3-compatible server on
# 127.0.0.1, one of the two issue 15 names:
#   SERVER=s3s-fs (default)  s3s-fs from crates.io, native, objects in files
#                            (pinned 0.14.1: later ones need a newer rustc);
#                            closest to a real S3, whose CPU is not ours
#   SERVER=moto              moto[server] (bench/s3-requirements.txt), Python;
#                            it takes ~2.5 ms of CPU per request on the same
#                            cores as Tarmac, so it measures moto as well
# Landing is durable locally (a body is fsynced with its folder); neither
# server fsyncs, as a real S3 acknowledges a PUT only once it is stored.
# Prints each run, the medians, and s3/local as records per second.
# Environment:
#   TARMAC  tarmac binary (default $CARGO_TARGET_DIR or ~/.cache/tarmac-target, release)
#   SERVER  s3s-fs | moto
#   S3S_FS  s3s-fs binary (default: cargo install into ~/.cache/s3s-fs)
#   MOTO    moto_server (default: made by bench/py_venv.sh in ~/.cache/tarmac-s3-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TARMAC="${TARMAC:-${CARGO_TARGET_DIR:-$HOME/.cache/tarmac-target}/release/tarmac}"
DAYS="${DAYS:-90}"
RUNS="${RUNS:-5}"
SERVER="${SERVER:-s3s-fs}"
[ -x "$TARMAC" ] || { echo "no tarmac binary at $TARMAC: cargo build --release -p tarmac (or set TARMAC)" >&2; exit 1; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tarmac-s3-bench.XXXXXX")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case "$SERVER" in
  moto)
    MOTO="${MOTO:-$(bash "$here/py_venv.sh" "$here/s3-requirements.txt" "$HOME/.cache/tarmac-s3-venv" moto_server)}"
    "$MOTO" -H 127.0.0.1 -p "$port" >"$scratch/server.log" 2>&1 &
    ;;
  s3s-fs)
    S3S_FS="${S3S_FS:-$HOME/.cache/s3s-fs/bin/s3s-fs}"
    if [ ! -x "$S3S_FS" ]; then
      echo "building s3s-fs 0.14.1 into $HOME/.cache/s3s-fs (once)" >&2
      CARGO_TARGET_DIR="$HOME/.cache/s3s-fs/target" cargo install --quiet --locked s3s-fs@0.14.1 --features binary --root "$HOME/.cache/s3s-fs" >&2
    fi
    mkdir -p "$scratch/objects"
    "$S3S_FS" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$scratch/objects" >"$scratch/server.log" 2>&1 &
    ;;
  *) echo "SERVER must be s3s-fs or moto, not $SERVER" >&2; exit 2 ;;
esac
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

from=2024-01-01
to=$(date -u -d "$from + $((DAYS - 1)) days" +%F)
echo "landing_s3: BOG, $DAYS days from $from, simulator (realistic days), $RUNS runs each, S3 server $SERVER, $(basename "$TARMAC") at $TARMAC"

# $1 = label, $2 = landing location; prints "seconds records"
one() {
  local work="$scratch/$1"
  rm -rf "$work"; mkdir -p "$work"
  printf '[landing]\npath = "%s"\n' "$2" >"$work/tarmac.toml"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$work" && AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 \
     "$TARMAC" ingest batch --airport BOG --from "$from" --to "$to" --simulator --seed 1 --rate-limit 100000/1 --concurrency 8 >"$work/out.txt" 2>&1) \
    || { cat "$work/out.txt" >&2; exit 1; }
  t1=$(date +%s.%N)
  local records
  records=$(sed -n 's/.* \([0-9][0-9]*\) records.*/\1/p' "$work/out.txt" | head -1)
  echo "$(python3 -c "print(f'{$t1 - $t0:.3f}')") ${records:-0}"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$scratch/local.txt"; : >"$scratch/s3.txt"
for i in $(seq "$RUNS"); do
  bucket="bench-$i"
  if [ "$SERVER" = moto ]; then curl -s -X PUT "http://127.0.0.1:$port/$bucket" -o /dev/null; else mkdir -p "$scratch/objects/$bucket"; fi
  l=$(one "local-$i" "landing")
  s=$(one "s3-$i" "s3://$bucket/landing")
  echo "run $i: local ${l% *} s, s3 ${s% *} s (${l#* } / ${s#* } records)"
  echo "$l" >>"$scratch/local.txt"; echo "$s" >>"$scratch/s3.txt"
done
ml=$(cut -d' ' -f1 "$scratch/local.txt" | median)
ms=$(cut -d' ' -f1 "$scratch/s3.txt" | median)
rec=$(cut -d' ' -f2 "$scratch/local.txt" | head -1)
python3 - "$ml" "$ms" "$rec" <<'PY'
import sys
ml, ms, rec = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"median local {ml:.2f} s ({rec / ml:,.0f} records/s), s3 {ms:.2f} s ({rec / ms:,.0f} records/s)")
print(f"s3 / local throughput: {ml / ms:.2f} (target >= 0.80)")
PY
