#!/usr/bin/env bash
# Whole-process benchmarks of the release binary (not part of .ci/run; see README, "Benchmarks"):
#   - `fix` on a 10 MB document against jq doing the same edit, same run, outputs compared;
#   - `diff` and `lint` on the largest fixture and the 10 MB document: time and peak memory;
#   - cold start of `apim-gate --version` and `apim-gate config`.
# Needs jq, hyperfine and GNU time (`apt-get install jq hyperfine time`); without hyperfine it
# falls back to a timed loop. Usage: benches/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}

for tool in jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install jq time hyperfine" >&2; exit 2; }
done

cargo build --release --quiet --bin apim-gate
bin=$PWD/target/release/apim-gate
fixture=$PWD/../shared/fixtures/swashbuckle/opc-publisher-swagger2-large.json
# In memory when possible: the comparison is about computing, not the disk.
work=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap 'rm -rf "$work"' EXIT

# The 10 MB document: the fixture's paths replicated under renamed keys (and operationIds).
copies=$(( 10 * 1024 * 1024 / $(jq '.paths' "$fixture" | wc -c) + 1 ))
jq --argjson n "$copies" '
  .paths |= (to_entries as $p
    | [range(0; $n) as $i | $p[]
       | .key = "/v\($i)\(.key)"
       | .value |= with_entries(
           if (.value | type) == "object" and (.value | has("operationId"))
           then .value.operationId += "\($i)" else . end)]
    | from_entries)' "$fixture" > "$work/big.json"
# The "new" side of a diff: every string type becomes an integer.
sed 's/"string"/"integer"/g' "$work/big.json" > "$work/big-new.json"
sed 's/"string"/"integer"/g' "$fixture" > "$work/fixture-new.json"
echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "10 MB document: $(stat -c %s "$work/big.json") bytes, $(jq '.paths | length' "$work/big.json") paths"

host=10.224.0.4:30080
fix_cmd="$bin fix --host $host -o $work/fix.json $work/big.json"
jq_cmd="jq '.host=\"$host\" | .schemes=[\"http\"]' $work/big.json > $work/jq.json"

echo
echo "== fix vs jq on the 10 MB document"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 2 --runs "$runs" -N "$fix_cmd" --export-json "$work/fix.time.json" >/dev/null
  hyperfine --warmup 1 --runs "$(( runs / 4 + 2 ))" "$jq_cmd" --export-json "$work/jq.time.json" >/dev/null
  fix_s=$(jq '.results[0].mean' "$work/fix.time.json")
  jq_s=$(jq '.results[0].mean' "$work/jq.time.json")
else
  t() { local s e; s=$(date +%s%N); for _ in $(seq "$runs"); do bash -c "$1"; done; e=$(date +%s%N); echo "scale=6; ($e - $s) / $runs / 1000000000" | bc; }
  fix_s=$(t "$fix_cmd"); jq_s=$(t "$jq_cmd")
fi
bash -c "$jq_cmd"
printf 'apim-gate fix: %8.1f ms\njq:            %8.1f ms\nratio:         %8.1fx faster than jq\n' \
  "$(echo "$fix_s * 1000" | bc -l)" "$(echo "$jq_s * 1000" | bc -l)" "$(echo "$jq_s / $fix_s" | bc -l)"
if cmp -s <(jq -S . "$work/fix.json") <(jq -S . "$work/jq.json"); then
  echo "outputs: identical in content (jq -S . on both)"
else
  echo "outputs DIFFER in content" >&2
  diff <(jq -S . "$work/fix.json") <(jq -S . "$work/jq.json") | head -20 >&2
  exit 1
fi

# Mean wall time (hyperfine, else best of 5 by GNU time) and peak resident memory of one command.
measure() {
  local label=$1; shift
  local ms rss
  /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>&1 || true
  rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
  if command -v hyperfine >/dev/null; then
    hyperfine -N -i --warmup 1 --runs 5 --export-json "$work/m.json" "$(printf '%q ' "$@")" >/dev/null 2>&1
    ms=$(jq '.results[0].mean * 1000' "$work/m.json")
  else
    ms=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}' | awk -F: '{print ($1 * 60 + $2) * 1000}')
  fi
  printf '%-44s %9.1f ms %8.1f MB peak RSS\n' "$label" "$ms" "$(echo "$rss / 1024" | bc -l)"
}

echo
echo "== diff and lint (mean wall time, peak RSS)"
measure "lint, largest fixture ($(( $(stat -c %s "$fixture") / 1024 )) KB)" "$bin" lint "$fixture"
measure "diff, largest fixture" "$bin" diff "$fixture" "$work/fixture-new.json"
measure "lint, 10 MB document" "$bin" lint "$work/big.json"
measure "diff, 10 MB document" "$bin" diff "$work/big.json" "$work/big-new.json"
measure "fix, 10 MB document" "$bin" fix --host "$host" -o "$work/fix.json" "$work/big.json"
measure "jq host/schemes edit, 10 MB document" jq ".host=\"$host\" | .schemes=[\"http\"]" "$work/big.json"

echo
echo "== cold start"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 5 --runs 100 -N -i "$bin --version" "env -i $bin config" 2>/dev/null \
    | grep -E 'Benchmark|Time \(mean'
else
  for c in "$bin --version" "env -i $bin config"; do
    s=$(date +%s%N); for _ in $(seq 100); do $c >/dev/null 2>&1 || true; done; e=$(date +%s%N)
    printf '%-40s %6.2f ms\n' "$c" "$(echo "($e - $s) / 100 / 1000000" | bc -l)"
  done
fi
