#!/usr/bin/env bash
# Benchmark: cutover tree-sync (copy + full BLAKE3 verification, target
# flushed before anything is called verified) against peers that also reach
# disk: `rsync -a && sync`, `cp -a && sync` and, when installed, `xcp -r &&
# sync` (a parallel copier: `cargo install xcp`), in one run, alternating.
# Every command is followed by `sync`, cutover's too, so all are timed to
# stable storage.
#
#   benches/tree_sync.sh [ROUNDS]        (default 3 rounds)
#
# Tree: 20,000 small files (1–64 KiB) in 200 directories + 20 files of 50 MiB.
# Env: BENCH_DIR (default /var/tmp/cutover-bench), KEEP_TREE=1 to reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
dir=${BENCH_DIR:-/var/tmp/cutover-bench}
src=$dir/src
command -v rsync >/dev/null || { echo "rsync is not installed"; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/cutover

if [ ! -f "$src/.complete" ] || [ "${KEEP_TREE:-1}" != 1 ]; then
  rm -rf "$dir"; mkdir -p "$src"
  echo "building the tree in $src ..."
  python3 - "$src" <<'PY'
import os, random, sys
src = sys.argv[1]
rnd = random.Random(20000)
block = os.urandom(64 * 1024 + 4096)
for i in range(20000):
    d = os.path.join(src, f"small/d{i % 200:03d}")
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(1024, 64 * 1024)
    off = rnd.randint(0, 4096)
    with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
        f.write(i.to_bytes(8, "little") + block[off:off + size - 8])
os.makedirs(os.path.join(src, "big"), exist_ok=True)
for i in range(20):
    with open(os.path.join(src, f"big/blob{i:02d}"), "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1024 * 1024))
open(os.path.join(src, ".complete"), "w").close()
PY
fi
echo "tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1)"

now() { date +%s.%N; }
clean() { rm -rf "$dir/dst" "$dir/state"; sync; sleep "${SETTLE_S:-3}"; }
time_it() { # name command...
  clean
  local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now)
  echo "$1 $(awk "BEGIN{print $t1 - $t0}")"
}
flushed() { "$@" && sync; }
tools="cutover rsync cp"
command -v xcp >/dev/null && tools="$tools xcp"

results=$(mktemp)
for r in $(seq "$rounds"); do
  for tool in $tools; do
    case $tool in
      cutover) t=$(time_it flushed "$bin" --state-dir "$dir/state" run tree-sync --source "$src" --target "$dir/dst" --verify full) ;;
      rsync)   t=$(time_it flushed rsync -a "$src/" "$dir/dst/") ;;
      cp)      t=$(time_it flushed cp -a "$src" "$dir/dst") ;;
      xcp)     t=$(time_it flushed xcp -r "$src" "$dir/dst") ;;
    esac
    secs=${t##* }
    echo "round $r  $tool  ${secs}s"
    echo "$tool $secs" >> "$results"
  done
done
clean

python3 - "$results" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    tool, secs = line.split()
    times.setdefault(tool, []).append(float(secs))
med = {t: statistics.median(v) for t, v in times.items()}
print()
print(f"median of {len(times['cutover'])} rounds:")
for t in ("cutover", "rsync", "cp", "xcp"):
    if t in med:
        print(f"  {t:8s} {med[t]:7.2f}s   runs: " + ", ".join(f"{x:.2f}" for x in times[t]))
print(f"  cutover copy+full verify / rsync -a && sync : {med['cutover'] / med['rsync']:.2f}x  (goal <= 0.7x)")
print(f"  cutover copy+full verify / cp -a && sync    : {med['cutover'] / med['cp']:.2f}x  (goal <= 1.0x)")
if "xcp" in med:
    print(f"  cutover copy+full verify / xcp -r && sync   : {med['cutover'] / med['xcp']:.2f}x  (reference)")
PY
rm -f "$results"
