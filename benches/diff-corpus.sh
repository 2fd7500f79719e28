#!/usr/bin/env bash
# Byte-for-byte check of `diff` output between two builds, for refactors that must not change
# behaviour: every oasdiff pair both ways, every ordered pair of the Swashbuckle and ASP.NET Core
# documents, and the largest fixture against a copy with every string type changed (190 cases),
# each in text, JSON and Markdown with its exit code.
# Usage: benches/diff-corpus.sh OLD_BIN NEW_BIN   (e.g. a build of the previous commit, and this one)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN" >&2; exit 2; }
fixtures=$PWD/../shared/fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
large=$fixtures/swashbuckle/opc-publisher-swagger2-large.json
sed 's/"string"/"integer"/g' "$large" > "$work/large-changed.json"

pairs() {
  for b in "$fixtures"/oasdiff/*-base.json; do
    r=${b%-base.json}-revision.json
    echo "$b $r"; echo "$r $b"
  done
  docs=$(ls "$fixtures"/swashbuckle/*.json "$fixtures"/aspnetcore/*.json)
  for a in $docs; do for b in $docs; do [ "$a" = "$b" ] || echo "$a $b"; done; done
  echo "$large $work/large-changed.json"; echo "$work/large-changed.json $large"
}

run() { # BIN OUT
  mkdir -p "$2"; local i=0
  while read -r a b; do
    i=$((i + 1))
    for fmt in text json markdown; do
      { "$1" diff "$a" "$b" --format "$fmt" 2>&1 || true; } > "$2/$i.$fmt"
      "$1" diff "$a" "$b" --format "$fmt" >/dev/null 2>&1 && rc=0 || rc=$?
      echo "exit $rc" >> "$2/$i.$fmt"
    done
  done < <(pairs)
  echo "$i"
}

n=$(run "$1" "$work/old")
run "$2" "$work/new" >/dev/null
if diff -r "$work/old" "$work/new" >/dev/null; then
  echo "$n cases: identical"
else
  diff -r "$work/old" "$work/new" | head -40
  echo "$n cases: outputs differ" >&2
  exit 1
fi
