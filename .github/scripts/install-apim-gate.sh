#!/usr/bin/env bash
# Finds the apim-gate binary for the composite action and prints `path=<binary>` to GITHUB_OUTPUT.
#
# Order: APIM_GATE_BIN when it names an executable; the tool cache; the release asset for this
# runner's OS/architecture from the release tagged with the action's ref, checked against the
# release's SHA256SUMS and then cached; finally `cargo build --release` from the action's checkout
# (a branch or commit ref has no release).
#
# Environment: ACTION_PATH, ACTION_REF, ACTION_REPOSITORY (github.action_* passed through `env:`,
# since composite steps may see them empty: actions/runner#2473), RUNNER_OS, RUNNER_ARCH,
# RUNNER_TOOL_CACHE, GITHUB_SERVER_URL, GITHUB_OUTPUT; DOWNLOAD_TOKEN (optional, for private
# repositories); APIM_GATE_RELEASE_BASE_URL overrides `<server>/<repo>/releases/download` (mirrors,
# tests).
set -euo pipefail

log() { printf '%s\n' "$*" >&2; }
fail() { printf '::error title=apim-gate install::%s\n' "$*"; exit 2; }
emit() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'path=%s\n' "$1" >> "$GITHUB_OUTPUT"
  else
    printf 'path=%s\n' "$1"
  fi
  exit 0
}

action_path=${ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ -n "${APIM_GATE_BIN:-}" ]; then
  [ -x "$APIM_GATE_BIN" ] || fail "APIM_GATE_BIN=$APIM_GATE_BIN is not an executable file"
  log "apim-gate: using APIM_GATE_BIN"
  emit "$APIM_GATE_BIN"
fi

# The runner checks actions out to <tool dir>/_actions/<owner>/<repo>/<ref>: the fallback when
# github.action_ref / github.action_repository are empty.
ref=${ACTION_REF:-}
repository=${ACTION_REPOSITORY:-}
case "$action_path" in
  */_actions/*/*/*)
    rest=${action_path#*/_actions/}
    [ -n "$repository" ] || repository=$(printf '%s' "$rest" | cut -d/ -f1-2)
    [ -n "$ref" ] || ref=$(printf '%s' "$rest" | cut -d/ -f3)
    ;;
esac

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
exe=apim-gate
case "$os/$arch" in
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
  Windows/X64) target=x86_64-pc-windows-msvc; exe=apim-gate.exe ;;
  macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
  macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
  *) target= ;;
esac
asset="apim-gate-${target}"
[ "$exe" = apim-gate.exe ] && asset="${asset}.exe"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

download() { # url file
  local auth=()
  if [ -n "${DOWNLOAD_TOKEN:-}" ] && [ -z "${APIM_GATE_RELEASE_BASE_URL:-}" ]; then
    auth=(-H "Authorization: Bearer ${DOWNLOAD_TOKEN}")
  fi
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 ${auth[@]+"${auth[@]}"} -o "$2" "$1"
}

# Only a tag has a release; a branch name or a commit SHA goes straight to the build.
if [ -n "$target" ] && [ -n "$ref" ] && [[ "$ref" =~ ^v[0-9] ]]; then
  cache_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}
  # The tool cache's layout (<tool>/<version>/<arch> plus <arch>.complete), as actions/tool-cache
  # writes it, so hosted-runner images and cache restores recognise it.
  dir="$cache_root/apim-gate/${ref#v}/$arch"
  if [ -f "$dir.complete" ] && [ -x "$dir/$exe" ]; then
    log "apim-gate: $ref from the tool cache"
    emit "$dir/$exe"
  fi
  base=${APIM_GATE_RELEASE_BASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/${repository}/releases/download}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if download "$base/$ref/$asset" "$tmp/$asset" 2>"$tmp/err"; then
    download "$base/$ref/SHA256SUMS" "$tmp/SHA256SUMS" ||
      fail "release $ref has $asset but no SHA256SUMS to check it against"
    expected=$(awk -v a="$asset" '{ f = $2; sub(/^\*/, "", f); if (f == a) print $1 }' "$tmp/SHA256SUMS")
    [ -n "$expected" ] || fail "SHA256SUMS of release $ref does not list $asset"
    actual=$(sha256 "$tmp/$asset")
    [ "$expected" = "$actual" ] ||
      fail "$asset of release $ref does not match SHA256SUMS (expected $expected, got $actual): not using it"
    mkdir -p "$dir"
    mv "$tmp/$asset" "$dir/$exe"
    chmod +x "$dir/$exe"
    touch "$dir.complete"
    log "apim-gate: $ref ($asset) downloaded, SHA-256 verified, cached in $dir"
    emit "$dir/$exe"
  fi
  log "apim-gate: no release asset $asset for $ref ($(tr -d '\n' < "$tmp/err")); building from source"
fi

[ -f "$action_path/Cargo.toml" ] ||
  fail "no release binary for ${os}/${arch} at ref '${ref:-?}' and no source to build at $action_path"
command -v cargo >/dev/null 2>&1 ||
  fail "no release binary for ${os}/${arch} at ref '${ref:-?}'; building from source needs Rust (add dtolnay/rust-toolchain before this action)"
log "apim-gate: cargo build --release (ref '${ref:-none}' has no release binary for ${os}/${arch})"
cargo build --release --locked --manifest-path "$action_path/Cargo.toml" -p apim-gate >&2
emit "$action_path/target/release/$exe"
