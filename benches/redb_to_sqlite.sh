#!/usr/bin/env bash
# Benchmark: cutover redb-to-sqlite with `--verify full` against the
# baseline (examples/redb_sqlite_baseline.rs: scan the redb table, insert
# every pair with a prepared statement in one transaction, no verification),
# in one run, alternating (who goes first swaps every round), median of
# ROUNDS.
#
#   benches/redb_to_sqlite.sh [ROUNDS]        (default 5 rounds)
#
# Source: one redb table of 1,000,000 pairs, 16-byte keys, 100-byte values.
# Env: BENCH_DIR (default /var/tmp/cutover-bench-redb), PAIRS (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
dir=${BENCH_DIR:-/var/tmp/cutover-bench-redb}
pairs=${PAIRS:-1000000}
cargo build --release --quiet --bin cutover --example redb_sqlite_baseline
bin=$PWD/target/release/cutover
base=$PWD/target/release/examples/redb_sqlite_baseline

mkdir -p "$dir"
src=$dir/source-$pairs.redb
if [ ! -f "$src" ]; then
  echo "writing $pairs pairs into $src ..."
  "$base" gen "$src.partial" "$pairs"
  mv "$src.partial" "$src"
fi
echo "source: $src, $(du -h "$src" | cut -f1), $pairs pairs (16-byte keys, 100-byte values)"

now() { date +%s.%N; }
clean() { rm -rf "$dir/out.sqlite" "$dir/.out.sqlite.cutover-tmp"* "$dir/state"; sync; }

results=$(mktemp)
for r in $(seq "$rounds"); do
  # Who goes first swaps every round: neither always meets a disk still
  # busy with what the other just wrote.
  order="cutover baseline"
  [ $((r % 2)) = 0 ] && order="baseline cutover"
  for tool in $order; do
    clean
    t0=$(now)
    case $tool in
      cutover)  "$bin" --state-dir "$dir/state" run redb-to-sqlite --source "$src" \
                  --target "$dir/out.sqlite" --verify full >/dev/null ;;
      baseline) "$base" copy "$src" "$dir/out.sqlite" >/dev/null ;;
    esac
    t1=$(now)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    echo "round $r  $tool  ${secs}s"
    echo "$tool $secs" >> "$results"
  done
done
clean

python3 - "$results" "$pairs" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    tool, secs = line.split()
    times.setdefault(tool, []).append(float(secs))
pairs = int(sys.argv[2])
med = {t: statistics.median(v) for t, v in times.items()}
print()
print(f"median of {len(times['cutover'])} rounds, {pairs} pairs:")
for t, label in (("cutover", "cutover migrate --verify full"), ("baseline", "baseline (scan + insert, no verification)")):
    print(f"  {label:44s} {med[t]:6.2f}s  {pairs / med[t]:>10,.0f} pairs/s   runs: " + ", ".join(f"{x:.2f}" for x in times[t]))
print(f"  cutover / baseline: {med['cutover'] / med['baseline']:.2f}x  (goal <= 1.1x)")
PY
rm -f "$results"
