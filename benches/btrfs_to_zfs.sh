#!/usr/bin/env bash
# Benchmark: cutover btrfs-to-zfs (every snapshot synced, manifested,
# snapshotted and fully verified: four checks, BLAKE3 of every file) against
# a plain shell loop of `rsync -aHAX --delete` + `zfs snapshot` per snapshot
# (no verification), in one run, alternating. Both end with `sync`.
#
#   benches/btrfs_to_zfs.sh [ROUNDS]      (default 3 rounds; needs root,
#                                          btrfs-progs, zfs-fuse or OpenZFS, rsync)
#
# Source: a loop-mounted BTRFS with a subvolume of 5,000 files (1–16 KiB,
# 100 directories) and 10 read-only snapshots, ~5 % churn between them
# (3 % edited, 1 % added, 1 % deleted). Target: a file-backed pool.
# Then, for the idea of sparing the walk: the time to walk each snapshot's
# tree (what the sync does to find changes) against the time BTRFS takes to
# list the changes between two snapshots (`btrfs send --no-data -p`).
# Env: BENCH_DIR (default /var/tmp/cutover-bench-b2z); BENCH_OUT (cutover's
# --json events, default none); BENCH_WRAP (a command cutover runs under,
# e.g. "strace -f -tt -e trace=execve -o FILE").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
rounds=${1:-3}
dir=${BENCH_DIR:-/var/tmp/cutover-bench-b2z}
for t in mkfs.btrfs btrfs zfs zpool rsync python3; do
  command -v "$t" >/dev/null || { echo "$t is not installed"; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "needs root (loop mounts, zpool)"; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/cutover

pool=cutover_bench_$$
daemon=""
cleanup() {
  # zfs-fuse says "pool is busy" for a moment after files were closed.
  for _ in $(seq 40); do
    zpool list "$pool" >/dev/null 2>&1 || break
    zpool destroy -f "$pool" 2>/dev/null && break
    sleep 0.3
  done
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  umount "$dir/btrfs" 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$dir"; mkdir -p "$dir/btrfs" "$dir/pool"
truncate -s 2G "$dir/btrfs.img"; mkfs.btrfs -q -f "$dir/btrfs.img"
mount -o loop "$dir/btrfs.img" "$dir/btrfs"
btrfs -q subvolume create "$dir/btrfs/live"; mkdir "$dir/btrfs/repo"
echo "building 10 snapshots of 5,000 files in $dir/btrfs/repo ..."
for k in $(seq 10); do
  python3 - "$dir/btrfs/live" "$k" <<'PY'
import os, random, sys
live, k = sys.argv[1], int(sys.argv[2])
rnd = random.Random(k)
def put(path, n):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(n))
if k == 1:
    for i in range(5000):
        put(os.path.join(live, f"d{i % 100:02d}", f"f{i:05d}"), rnd.randint(1024, 16384))
else:
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(live) for f in fs if f != "HEAD")
    for p in rnd.sample(files, 150):
        put(p, rnd.randint(1024, 16384))
    for p in rnd.sample(files, 50):
        if os.path.exists(p):
            os.remove(p)
    for i in range(50):
        put(os.path.join(live, f"d{rnd.randrange(100):02d}", f"n{k:02d}_{i:03d}"), rnd.randint(1024, 16384))
with open(os.path.join(live, "HEAD"), "w") as f:
    f.write(f"ref: {k}\n")
PY
  btrfs -q subvolume snapshot -r "$dir/btrfs/live" "$dir/btrfs/repo/s$k"
done

if ! zpool list >/dev/null 2>&1; then
  zfs-fuse --no-daemon >/dev/null 2>&1 & daemon=$!
  for _ in $(seq 100); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done
fi
truncate -s 2G "$dir/pool.img"
zpool create -m "$dir/pool" "$pool" "$dir/pool.img"
echo "ZFS: $(zfs list -p >/dev/null 2>&1 && echo OpenZFS || echo zfs-fuse)"

now() { date +%s.%N; }
settle() { sync; sleep "${SETTLE_S:-3}"; }
# zfs-fuse calls a just-unmounted dataset busy for a moment: retry.
destroy() {
  for _ in $(seq 40); do
    zfs list "$1" >/dev/null 2>&1 || return 0
    zfs destroy -r "$1" 2>/dev/null && return 0
    sleep 0.3
  done
  echo "cannot destroy $1"; exit 1
}
run_cutover() {
  ${BENCH_WRAP:-} "$bin" --state-dir "$dir/state" run btrfs-to-zfs --source "$dir/btrfs/repo" \
    --target "$pool/cut" --verify full --json >"${BENCH_OUT:-/dev/null}"
  sync
}
run_rsync() {
  zfs create "$pool/rsync"
  for k in $(seq 10); do
    rsync -aHAX --delete --exclude=/HEAD --exclude=/.snap \
      "$dir/btrfs/repo/s$k/" "$dir/pool/rsync/"
    zfs snapshot "$pool/rsync@s$k"
  done
  sync
}
results=$(mktemp)
for r in $(seq "$rounds"); do
  # Who goes first swaps every round (the first run after the repository
  # was written meets a disk still busy with it).
  order="cutover rsync"; [ $((r % 2)) -eq 0 ] && order="rsync cutover"
  for tool in $order; do
    destroy "$pool/cut"; destroy "$pool/rsync"
    rm -rf "$dir/state"; settle
    t0=$(now); "run_$tool"; t1=$(now)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    echo "round $r  $tool  ${secs}s"
    echo "$tool $secs" >> "$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    tool, secs = line.split()
    times.setdefault(tool, []).append(float(secs))
med = {t: statistics.median(v) for t, v in times.items()}
for t, m in med.items():
    print(f"{t:8} median {m:7.2f}s  ({', '.join(f'{x:.2f}' for x in times[t])})")
print(f"cutover / rsync loop: {med['cutover'] / med['rsync']:.2f}x")
PY

# The walk against BTRFS's own change list, snapshots 2..10.
walk=0; list=0
for k in $(seq 2 10); do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now); find "$dir/btrfs/repo/s$k" -printf '' ; t1=$(now)
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t2=$(now)
  btrfs -q send --no-data -p "$dir/btrfs/repo/s$((k - 1))" "$dir/btrfs/repo/s$k" 2>/dev/null \
    | btrfs receive --dump 2>/dev/null | wc -l > "$dir/changes.$k" || true
  t3=$(now)
  walk=$(awk "BEGIN{print $walk + $t1 - $t0}")
  list=$(awk "BEGIN{print $list + $t3 - $t2}")
done
echo "walk of 9 snapshots (cold cache): ${walk}s; btrfs send --no-data change lists: ${list}s ($(cat "$dir"/changes.* | paste -sd+ | bc) records)"
