#!/usr/bin/env bash
# Benchmark: cutover store-to-cas (migrate + full verification, objects
# flushed before packages are recorded) against a plain `cp -a && sync` of
# the same store (both timed to stable storage) and `rdfind -dryrun true` (finds the
# duplicates only), in one run, alternating; also cutover's read-and-hash
# phase alone (`cutover store scan`), and a floor: `cp -a && sync` of the
# distinct contents alone (a copy of the objects a first cutover run wrote),
# what any tool that writes each distinct content once as a file must pay.
#
#   benches/store_to_cas.sh [ROUNDS]      (default 3)
#
# Store: ~50,000 files / ~2 GB in 500 packages, ~30 % of the bytes duplicate
# (licenses, libraries shared across versions, identical assets).
# Tools run in turn; who goes first turns every round.
# Env: BENCH_DIR (default /var/tmp/cutover-store-bench); SETTLE_S, the
# pause before each tool that creates files (default 65; ext4 skips inodes
# freed in the last 60 s when it allocates, so a shorter pause makes every
# tool pay for the previous one's deleted target); BENCH_TOOLS (default
# all five: cutover cp uniq rdfind scan); CACHE, what every tool starts
# from: `cold` (default: dirty data written and every cache dropped, so
# the store is read from disk, as in a real migration), `warm` (the store
# read through just before), or `asis` (whatever the last tool left).
# This machine's page cache shrinks by about 10 MB/s even with most of
# memory free, so without `cold` or `warm` each tool finds a different
# share of the store in memory.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
dir=${BENCH_DIR:-/var/tmp/cutover-store-bench}
src=$dir/store
if ! command -v rdfind >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rdfind >/dev/null
  else
    echo "rdfind is not installed"; exit 2
  fi
fi
if [ "${CACHE:-cold}" = cold ] && [ "$(id -u)" != 0 ]; then
  echo "CACHE=cold drops the page cache and needs root; run as root or with CACHE=warm"; exit 2
fi
cargo build --release --quiet
bin=$PWD/target/release/cutover

if [ ! -f "$src/.complete-v2" ]; then
  rm -rf "$dir"; mkdir -p "$src"
  echo "building the store in $src ..."
  python3 - "$src" <<'PY'
import hashlib, os, random, sys
src = sys.argv[1]
rnd = random.Random(50000)
pool = [os.urandom(rnd.randint(1024, 100 * 1024)) for _ in range(400)]  # shared contents
license = b"Licensed under the Apache License, Version 2.0\n" * 80
for p in range(500):
    pkg = os.path.join(src, hashlib.sha1(str(p).encode()).hexdigest() + f"-pkg{p}")
    for f in range(100):
        d = os.path.join(pkg, f"d{f % 10}")
        os.makedirs(d, exist_ok=True)
        r = rnd.random()
        if f == 0:
            data = license
        elif r < 0.25:
            data = pool[rnd.randrange(len(pool))]
        else:
            data = os.urandom(rnd.randint(1024, 80 * 1024))
        with open(os.path.join(d, f"f{f:03d}"), "wb") as fh:
            fh.write(data)
open(os.path.join(src, ".complete-v2"), "w").close()
PY
fi
echo "store: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1)"

now() { date +%s.%N; }
clean() { rm -rf "$dir/cas" "$dir/state" "$dir/copy" "$dir/rdfind.txt"; sync; }
# Before a tool that creates files: let the last target's freed inodes age.
settle() { sleep "${SETTLE_S:-65}"; }
# The same cache state for every tool (see CACHE above).
start_from() {
  case $1 in
    cold) sync; echo 3 > /proc/sys/vm/drop_caches ;;
    warm) find "$src" -type f -print0 | xargs -0 cat > /dev/null ;;
    asis) ;;
    *) echo "CACHE must be cold, warm or asis"; exit 2 ;;
  esac
}
results=$(mktemp)
tools=(${BENCH_TOOLS:-cutover cp uniq rdfind scan})
for r in $(seq "$rounds"); do
  # Who goes first turns every round: no tool always follows the same one.
  order=("${tools[@]:$(( (r - 1) % ${#tools[@]} ))}" "${tools[@]:0:$(( (r - 1) % ${#tools[@]} ))}")
  for tool in "${order[@]}"; do
    clean
    if [ "$tool" = uniq ] && [ ! -d "$dir/uniq" ]; then
      echo "round $r  uniq  skipped: its input is made by a cutover round first"; continue
    fi
    case $tool in cutover|cp|uniq) settle ;; esac
    start_from "${CACHE:-cold}"
    t0=$(now)
    case $tool in
      cutover) "$bin" --state-dir "$dir/state" run store-to-cas --source "$src" --target "$dir/cas" --verify full --json > "$dir/last.json" && sync ;;
      cp)      cp -a "$src" "$dir/copy" && sync ;;
      uniq)    cp -a "$dir/uniq" "$dir/copy" && sync ;;
      rdfind)  (cd "$dir" && rdfind -dryrun true -outputname "$dir/rdfind.txt" "$src" > "$dir/rdfind.out") ;;
      scan)    "$bin" store scan --json --source "$src" > "$dir/scan.json" ;;
    esac
    t1=$(now)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    echo "round $r  $tool  ${secs}s"
    echo "$tool $secs" >> "$results"
    case $tool in
      cutover) tail -n1 "$dir/last.json" > "$dir/summary.json"
               # The floor's input: the distinct contents, one file each
               # (the objects of a finished run), made once.
               [ -d "$dir/uniq" ] || cp -a "$dir/cas/objects" "$dir/uniq" ;;
      rdfind)  grep -o 'Totally, .* can be reduced' "$dir/rdfind.out" > "$dir/rdfind.total" || true
               # Exact bytes: the size of every entry that is not a first occurrence.
               awk '!/^#/ && $1 != "DUPTYPE_FIRST_OCCURRENCE" { s += $4 } END { print s + 0 }' \
                 "$dir/rdfind.txt" > "$dir/rdfind.exact" ;;
    esac
  done
done
clean
python3 - "$results" "$dir/summary.json" "$dir/rdfind.total" "$dir/scan.json" "$dir/rdfind.exact" <<'PY'
import json, re, statistics, sys
times = {}
for line in open(sys.argv[1]):
    tool, secs = line.split()
    times.setdefault(tool, []).append(float(secs))
med = {t: statistics.median(v) for t, v in times.items()}
def load(path, parse):
    try:
        return parse(open(path).read())
    except (OSError, ValueError):
        return None
summary = load(sys.argv[2], json.loads)
scan = load(sys.argv[4], json.loads)
rd = load(sys.argv[3], str.strip)
rd_exact = load(sys.argv[5], lambda s: int(s.strip() or 0))
print()
print(f"median of {max(len(v) for v in times.values())} rounds:")
for t in ("cutover", "cp", "uniq", "rdfind", "scan"):
    if t in med:
        print(f"  {t:8s} {med[t]:7.2f}s   runs: " + ", ".join(f"{x:.2f}" for x in times[t]))
def ratio(a, b, text, goal=""):
    if a in med and b in med:
        print(f"  {text}: {med[a] / med[b]:.2f}x  {goal}")
ratio("cutover", "cp", "cutover migrate+full verify / cp -a && sync ", "(goal <= 0.5x)")
ratio("uniq", "cp", "floor: cp -a of the distinct contents / cp -a")
ratio("cutover", "uniq", "cutover / floor                              ")
ratio("scan", "rdfind", "cutover store scan / rdfind -dryrun      ", "(goal <= 1.0x)")
if summary and "cutover" in med:
    print(f"  space saved (cutover)   : {summary['space_saved_bytes']} bytes")
if scan and "scan" in med:
    print(f"  reducible (cutover scan): {scan['reducible_bytes']} bytes")
if rd_exact is not None and "rdfind" in med:
    print(f"  reducible (rdfind)      : {rd_exact} bytes ({rd})")
    if summary:
        print(f"  space saved == rdfind   : {summary['space_saved_bytes'] == rd_exact}")
PY
rm -f "$results"
