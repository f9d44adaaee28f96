#!/usr/bin/env bash
# Memory of the console while a 1,000,000-file job streams into it: the
# console (the engine runs inside it) bulk-copies a tree of 1,000,000 small
# files in 10,000 directories, driven in tmux; its resident set (VmRSS) is
# sampled every second until the job's header says it ended. Goal: < 150 MB.
#
#   benches/console_rss.sh
#
# Env: BENCH_DIR (default /var/tmp/cutover-rss), KEEP_TREE=1 (default) to
# reuse the tree between runs. Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/var/tmp/cutover-rss}
src=$dir/src
command -v tmux >/dev/null || { echo "tmux is not installed"; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/cutover

if [ ! -f "$src/.complete" ] || [ "${KEEP_TREE:-1}" != 1 ]; then
  rm -rf "$dir"; mkdir -p "$src"
  echo "building 1,000,000 files in $src ..."
  python3 - "$src" <<'PY'
import os, sys
src = sys.argv[1]
for d in range(10000):
    p = os.path.join(src, f"d{d // 100:03d}", f"e{d % 100:02d}")
    os.makedirs(p)
    for f in range(100):
        with open(os.path.join(p, f"f{f:02d}"), "wb") as out:
            out.write(b"%d/%d\n" % (d, f))
PY
  touch "$src/.complete"
fi

rm -rf "$dir/dst" "$dir/state"
sock=$dir/tmux.sock
tmux -S "$sock" kill-server 2>/dev/null || true
tmux -S "$sock" new-session -d -s rss -x 160 -y 48 \
  "$bin --state-dir $dir/state --source $src --target $dir/dst"
# Counting a million files before the console opens takes a while.
pid=""; ready=""
for _ in $(seq 1 1500); do
  pid=$(pgrep -f -n "^$bin --state-dir $dir/state" || true)
  if [ -n "$pid" ] && tmux -S "$sock" capture-pane -p -t rss | grep -q "1 usable"; then
    ready=1; break
  fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "the console did not open"; exit 1; }
tmux -S "$sock" send-keys -t rss Space
sleep 0.5
tmux -S "$sock" send-keys -t rss Enter
start=$(date +%s)
max=0; samples=0
while :; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ "$rss" -gt "$max" ] && max=$rss
  samples=$((samples + 1))
  screen=$(tmux -S "$sock" capture-pane -p -t rss)
  if grep -qE "bulk copy: (all verified|.*FAILED|cancelled)" <<<"$screen"; then break; fi
  sleep 1
done
elapsed=$(( $(date +%s) - start ))
verdict=$(grep -oE "#1 bulk copy: [^·]*" <<<"$screen" | head -1)
tmux -S "$sock" send-keys -t rss q
sleep 1
tmux -S "$sock" kill-server 2>/dev/null || true
files=$(find "$dir/dst" -type f | wc -l)
echo "job: $verdict; $files files in the target; ${elapsed}s"
echo "console VmRSS: max $((max / 1024)) MiB over $samples samples (goal < 150 MiB)"
