#!/usr/bin/env bash
# Benchmark: cutover zfs-transfer of one service (a dataset of one large
# incompressible file plus a few small ones) to a "remote" pool reached
# through sshd on 127.0.0.1, against the raw pipeline
# `zfs send DS@s | ssh … zfs receive …` alone, in one run, alternating.
#
#   benches/zfs_transfer.sh [ROUNDS]    (default 3; needs root, zfs-fuse or
#                                        OpenZFS, openssh-server, python3)
#
# cutover's time is split: the transfer phase is its whole wall time (start,
# plan with the SSH probes, snapshot, stream, mount, sync) minus the
# verification it reports (the `check` rows: guid, then both snapshots'
# trees hashed with sha256 through temporary clones); the verification is
# reported on its own. Goal: transfer phase ≤ 1.05× the raw pipeline.
# Env: BENCH_MB (default 1024: the big file's size), BENCH_DIR (default
# /var/tmp/cutover-bench-zt).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
rounds=${1:-3}
mb=${BENCH_MB:-1024}
dir=${BENCH_DIR:-/var/tmp/cutover-bench-zt}
for t in zfs zpool sshd ssh-keygen ssh python3; do
  command -v "$t" >/dev/null || { echo "$t is not installed"; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "needs root (zpool, sshd)"; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/cutover

src=cutover_bench_zts_$$
dst=cutover_bench_ztd_$$
daemon=""
sshd_pid=""
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  for p in "$src" "$dst"; do
    for _ in $(seq 40); do
      zpool list "$p" >/dev/null 2>&1 || break
      zpool destroy -f "$p" 2>/dev/null && break
      sleep 0.3
    done
  done
  # The daemon is shared with others' tests: stopped only if this script
  # started it and no pool is left on it.
  if [ -n "$daemon" ] && [ -z "$(zpool list -H -o name 2>/dev/null)" ]; then
    kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true
  fi
}
trap cleanup EXIT

rm -rf "$dir"; mkdir -p "$dir/src" "$dir/dst" "$dir/ssh"
if ! zpool list >/dev/null 2>&1; then
  setsid zfs-fuse --no-daemon >/dev/null 2>&1 & daemon=$!
  for _ in $(seq 100); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done
fi
# Pools an earlier run of this script left (its daemon died under it).
for p in $(zpool list -H -o name 2>/dev/null | grep '^cutover_bench_zt[sd]_' || true); do
  [ -d "/proc/${p##*_}" ] || zpool destroy -f "$p" 2>/dev/null || true
done
img=$(( mb * 2 + 512 ))
truncate -s "${img}M" "$dir/src.img" "$dir/dst.img"
zpool create -m "$dir/src" "$src" "$dir/src.img"
zpool create -m "$dir/dst" "$dst" "$dir/dst.img"
zfs create "$src/appdata"; zfs create "$dst/appdata"; zfs create "$src/appdata/bench"
echo "ZFS: $(zfs list -p >/dev/null 2>&1 && echo OpenZFS || echo zfs-fuse); writing ${mb} MiB ..."
python3 - "$dir/src/appdata/bench" "$mb" <<'PY'
import os, sys
root, mb = sys.argv[1], int(sys.argv[2])
with open(os.path.join(root, "big.bin"), "wb") as f:
    for _ in range(mb):
        f.write(os.urandom(1 << 20))
os.makedirs(os.path.join(root, "conf"), exist_ok=True)
for i in range(100):
    with open(os.path.join(root, "conf", f"f{i:03d}"), "wb") as f:
        f.write(os.urandom(4096))
PY
zfs snapshot "$src/appdata/bench@raw"

# A throwaway sshd on 127.0.0.1 with its own keys.
ssh-keygen -q -N "" -t ed25519 -f "$dir/ssh/host" -C bench-host
ssh-keygen -q -N "" -t ed25519 -f "$dir/ssh/client" -C bench-client
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/ssh/host
AuthorizedKeysFile $dir/ssh/client.pub
PidFile $dir/ssh/sshd.pid
PermitRootLogin yes
PasswordAuthentication no
UsePAM no
StrictModes no
EOF
mkdir -p /run/sshd
"$(command -v sshd)" -D -e -f "$dir/ssh/sshd_config" 2>"$dir/ssh/log" & sshd_pid=$!
opts=(-i "$dir/ssh/client" -p "$port" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no
      -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes)
for _ in $(seq 50); do ssh "${opts[@]}" root@127.0.0.1 true 2>/dev/null && break; sleep 0.2; done
cat > "$dir/nodes.toml" <<EOF
[[node]]
name = "local"
appdata = "$dir/src/appdata"
dataset = "$src/appdata"

[[node]]
name = "beta"
ssh = "root@127.0.0.1"
port = $port
identity = "$dir/ssh/client"
options = ["IdentitiesOnly=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "GlobalKnownHostsFile=/dev/null", "LogLevel=ERROR"]
appdata = "$dir/dst/appdata"
dataset = "$dst/appdata"
EOF

now() { date +%s.%N; }
settle() { sync; sleep "${SETTLE_S:-3}"; }
clean_target() {
  for _ in $(seq 40); do
    zfs list "$dst/appdata/bench" >/dev/null 2>&1 || break
    zfs destroy -r "$dst/appdata/bench" 2>/dev/null && break
    sleep 0.3
  done
  for s in $(zfs list -H -t snapshot -o name -d 1 "$src/appdata/bench" | grep '@cutover-' || true); do
    zfs destroy "$s"
  done
}
run_raw() {
  zfs send "$src/appdata/bench@raw" | ssh "${opts[@]}" root@127.0.0.1 zfs receive "$dst/appdata/bench"
  sync
}
run_cutover() {
  ${BENCH_WRAP:-} "$bin" --state-dir "$dir/state" --nodes "$dir/nodes.toml" run zfs-transfer \
    --from local --to beta --service bench --verify full --json > "$dir/out.json"
}
results=$(mktemp)
for r in $(seq "$rounds"); do
  # Who goes first swaps every round: the first run after the source was
  # written meets a disk still busy with it.
  order="cutover raw"; [ $((r % 2)) -eq 0 ] && order="raw cutover"
  for tool in $order; do
    clean_target; rm -rf "$dir/state"; settle
    t0=$(now); "run_$tool"; t1=$(now)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    if [ "$tool" = cutover ]; then
      check=$(python3 -c 'import json,sys
print(sum(e.get("seconds",0) for e in map(json.loads, open(sys.argv[1])) if e.get("event")=="check"))' "$dir/out.json")
      grep -q '"items_verified":1' "$dir/out.json" || { echo "cutover did not verify:"; cat "$dir/out.json"; exit 1; }
      moved=$(awk "BEGIN{print $secs - $check}")
      echo "round $r  cutover  total ${secs}s  transfer ${moved}s  verification ${check}s"
      echo "cutover $moved" >> "$results"; echo "verify $check" >> "$results"
    else
      echo "round $r  raw      ${secs}s"
      echo "raw $secs" >> "$results"
    fi
  done
done
python3 - "$results" "$mb" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    tool, secs = line.split()
    times.setdefault(tool, []).append(float(secs))
mb = int(sys.argv[2])
med = {t: statistics.median(v) for t, v in times.items()}
for t, m in med.items():
    print(f"{t:8} median {m:7.2f}s  ({', '.join(f'{x:.2f}' for x in times[t])})  {mb / m:6.1f} MiB/s")
print(f"cutover transfer / raw pipeline: {med['cutover'] / med['raw']:.3f}x  (goal <= 1.05x)")
print(f"verification (full, both snapshots hashed): {med['verify']:.2f}s")
PY
