#!/usr/bin/env bash
# Finds the apim-gate binary for the composite action and prints `path=<binary>` to GITHUB_OUTPUT.
#
# Trust: the SHA-256 of every release binary is pinned in the action's own source,
# `.github/release-checksums.txt`, which release.yml commits into the tagged commit before it
# tags it. The runner fetched that file with the action, from the tag, not from the release: a
# release asset swapped after the fact (or a tool-cache entry changed on a self-hosted runner)
# does not match and is refused. Without that file (a branch or commit ref, an older tag) there
# is nothing to check a download against, so the action builds from its own checkout.
#
# Order, with a pinned checksums file: the tool cache, re-hashed on every hit; else the release
# asset for this runner's OS/architecture, downloaded over HTTPS only, hashed, optionally checked
# with `gh attestation verify`, then cached. Otherwise (or when the download fails) `cargo build
# --release` from the action's checkout.
#
# Environment: ACTION_PATH, ACTION_REPOSITORY (github.action_* passed through `env:`, since
# composite steps may see them empty: actions/runner#2473), RUNNER_OS, RUNNER_ARCH,
# RUNNER_TOOL_CACHE, GITHUB_SERVER_URL, GITHUB_OUTPUT; DOWNLOAD_TOKEN (optional, for private
# repositories and for `gh`); VERIFY_ATTESTATION (auto, true, false; default auto);
# APIM_GATE_RELEASE_BASE_URL overrides `<server>/<repo>/releases/download` (mirrors; https only,
# and the pinned hashes still apply).
#
# Sourcing this file defines the functions without running anything (tests call them).
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

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The release a checksums file pins: its `# release vX.Y.Z` line.
pinned_release() { # checksums
  awk '$1 == "#" && $2 == "release" { print $3; exit }' "$1"
}

# The pinned SHA-256 of one asset (SHA256SUMS format, `*` binary marker allowed), or nothing.
pinned_hash() { # checksums asset
  awk -v a="$2" '$1 !~ /^#/ && NF == 2 { f = $2; sub(/^\*/, "", f); if (f == a) { print tolower($1); exit } }' "$1"
}

# Succeeds when `file` hashes to the value pinned for `asset`; otherwise says why on stdout (as
# an ::error) and exits 2. A binary that does not match is never run.
verify_pinned() { # file asset checksums what
  local expected actual
  expected=$(pinned_hash "$3" "$2")
  [ -n "$expected" ] || fail "$(basename "$3") does not pin $2: not using $4"
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "$(basename "$3") pins '$expected' for $2, not a SHA-256: not using $4"
  actual=$(sha256 "$1")
  [ "$expected" = "$actual" ] ||
    fail "$4 ($1) does not match the SHA-256 pinned in the action for $2 (expected $expected, got $actual): refused. If this is a tool-cache entry, delete it; if it is a download, the release asset is not the one this tag was released with."
}

# Verifies a downloaded file and moves it into the tool cache's layout (<tool>/<version>/<arch>
# plus <arch>.complete, as actions/tool-cache writes it). Nothing is cached unless it verified.
install_verified() { # file asset checksums dir exe
  verify_pinned "$1" "$2" "$3" "the downloaded $2"
  mkdir -p "$4"
  mv "$1" "$4/$5"
  chmod +x "$4/$5"
  touch "$4.complete"
}

# `gh attestation verify`: the asset was built by this repository's release workflow (Sigstore
# provenance from actions/attest-build-provenance). auto: when gh is installed and the action
# comes from github.com; true: required; false: skipped. A verification that runs and fails
# refuses the binary in every mode.
verify_attestation() { # file repository mode
  local mode=${3:-auto} out
  case "$mode" in
    false | no | 0) return 0 ;;
    true | yes | 1) command -v gh >/dev/null 2>&1 ||
        fail "verify-attestation is true but the GitHub CLI (gh) is not installed on this runner" ;;
    auto | '')
      command -v gh >/dev/null 2>&1 || { log "apim-gate: gh not installed; attestation not checked (the pinned SHA-256 was)"; return 0; }
      case "${GITHUB_SERVER_URL:-https://github.com}" in
        https://github.com) ;;
        *) log "apim-gate: attestations are checked on github.com only; the pinned SHA-256 was"; return 0 ;;
      esac ;;
    *) fail "verify-attestation '$mode' is not auto, true or false" ;;
  esac
  if out=$(GH_TOKEN=${GH_TOKEN:-${DOWNLOAD_TOKEN:-}} gh attestation verify "$1" --repo "$2" 2>&1); then
    log "apim-gate: build provenance verified (gh attestation verify --repo $2)"
  else
    fail "gh attestation verify $(basename "$1") --repo $2 failed: $(printf '%s' "$out" | tr '\n' ' ')"
  fi
}

download() { # url file
  local auth=()
  if [ -n "${DOWNLOAD_TOKEN:-}" ] && [ -z "${APIM_GATE_RELEASE_BASE_URL:-}" ]; then
    auth=(-H "Authorization: Bearer ${DOWNLOAD_TOKEN}")
  fi
  # https only, TLS 1.2 or later, redirects included (GitHub redirects assets to its CDN).
  curl --proto '=https' --proto-redir '=https' --tlsv1.2 -fsSL --retry 3 --retry-delay 2 \
    --connect-timeout 20 ${auth[@]+"${auth[@]}"} -o "$2" "$1"
}

main() {
  local action_path repository os arch exe target asset checksums release cache_root dir base tmp
  action_path=${ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

  # The runner checks actions out to <tool dir>/_actions/<owner>/<repo>/<ref>: the fallback when
  # github.action_repository is empty.
  repository=${ACTION_REPOSITORY:-}
  case "$action_path" in
    */_actions/*/*/*)
      [ -n "$repository" ] || repository=$(printf '%s' "${action_path#*/_actions/}" | cut -d/ -f1-2)
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

  checksums="$action_path/.github/release-checksums.txt"
  release=
  [ -f "$checksums" ] && release=$(pinned_release "$checksums")
  if [ -n "$target" ] && [ -n "$release" ]; then
    [[ "$release" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
      fail "$checksums names release '$release', not vX.Y.Z"
    cache_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}
    dir="$cache_root/apim-gate/${release#v}/$arch"
    if [ -f "$dir.complete" ] && [ -f "$dir/$exe" ]; then
      # A cache hit is hashed like a download: the cache outlives this job on self-hosted runners.
      verify_pinned "$dir/$exe" "$asset" "$checksums" "the tool-cache copy of apim-gate $release"
      log "apim-gate: $release from the tool cache, SHA-256 verified"
      emit "$dir/$exe"
    fi
    base=${APIM_GATE_RELEASE_BASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/${repository}/releases/download}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if download "$base/$release/$asset" "$tmp/$asset" 2>"$tmp/err"; then
      verify_pinned "$tmp/$asset" "$asset" "$checksums" "the downloaded $asset of release $release"
      verify_attestation "$tmp/$asset" "$repository" "${VERIFY_ATTESTATION:-auto}"
      install_verified "$tmp/$asset" "$asset" "$checksums" "$dir" "$exe"
      log "apim-gate: $release ($asset) downloaded, SHA-256 matches the pinned hash, cached in $dir"
      emit "$dir/$exe"
    fi
    log "apim-gate: no release asset $asset for $release ($(tr -d '\n' < "$tmp/err")); building from source"
  elif [ -n "$target" ]; then
    log "apim-gate: no pinned release checksums in the action (a branch or commit ref); building from source"
  fi

  [ -f "$action_path/Cargo.toml" ] ||
    fail "no release binary for ${os}/${arch} at release '${release:-none}' and no source to build at $action_path"
  command -v cargo >/dev/null 2>&1 ||
    fail "no release binary for ${os}/${arch} at release '${release:-none}'; building from source needs Rust (add dtolnay/rust-toolchain before this action)"
  log "apim-gate: cargo build --release (no verified release binary for ${os}/${arch})"
  cargo build --release --locked --manifest-path "$action_path/Cargo.toml" -p apim-gate >&2
  emit "$action_path/target/release/$exe"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
