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
# Order, with a pinned checksums file: the tool cache; else the release asset for this runner's
# OS/architecture, downloaded over HTTPS only (5 minutes at most), hashed, optionally checked with
# `gh attestation verify`, then cached. Either way the gate runs a private copy (a fresh
# `mktemp -d` under RUNNER_TEMP), and the copy is what is hashed: a tool-cache entry changed
# between the check and the run (a shared self-hosted runner) is never the file that runs.
# Otherwise (or when the download fails) `cargo build --release` from the action's checkout.
#
# Environment: ACTION_PATH, ACTION_REPOSITORY (github.action_* passed through `env:`, since
# composite steps may see them empty: actions/runner#2473), RUNNER_OS, RUNNER_ARCH,
# RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_SERVER_URL, GITHUB_OUTPUT; DOWNLOAD_TOKEN (optional, for private
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

# Copies `file` into a new private directory under RUNNER_TEMP (the runner empties it after the
# job), hashes the copy and hands the copy to the gate step: what was hashed is what runs.
emit_private_copy() { # file asset checksums what exe
  local root=${RUNNER_TEMP:-${TMPDIR:-/tmp}} run
  # Git Bash on Windows runners: RUNNER_TEMP is D:\a\_temp; the gate step runs in bash too.
  if command -v cygpath >/dev/null 2>&1; then root=$(cygpath -u "$root"); fi
  run=$(mktemp -d "$root/apim-gate.XXXXXXXX")
  cp "$1" "$run/$5"
  verify_pinned "$run/$5" "$2" "$3" "$4"
  chmod 700 "$run/$5"
  log "apim-gate: $4: SHA-256 verified on the private copy that runs ($run/$5)"
  emit "$run/$5"
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

# `gh attestation verify`: the asset was built by this repository's release workflow on a
# GitHub-hosted runner (Sigstore provenance from actions/attest-build-provenance). auto: when it
# can run (gh with `attestation verify`, gh 2.49 or later; a token, which gh needs even for a
# public repository, cli/cli#11803; the action from github.com); true: required, on github.com
# only (gh asks github.com's attestation API, not a GitHub Enterprise Server's); false: skipped.
# A verification that runs and says no refuses the binary in every mode.
verify_attestation() { # file repository mode
  local mode=${3:-auto} out token=${GH_TOKEN:-${DOWNLOAD_TOKEN:-}} status=0
  case "$mode" in
    false | no | 0) return 0 ;;
    true | yes | 1)
      command -v gh >/dev/null 2>&1 ||
        fail "verify-attestation is true but the GitHub CLI (gh) is not installed on this runner"
      case "${GITHUB_SERVER_URL:-https://github.com}" in
        https://github.com) ;;
        *) fail "verify-attestation is true, but gh checks attestations on github.com and this workflow runs on ${GITHUB_SERVER_URL}: set verify-attestation to auto or false (the pinned SHA-256 is checked either way)" ;;
      esac
      [ -n "$token" ] ||
        fail "verify-attestation is true but github-token is empty: gh attestation verify needs a token, even for a public repository"
      gh attestation verify --help >/dev/null 2>&1 ||
        fail "verify-attestation is true but this gh ($(gh --version 2>/dev/null | head -n1)) has no 'attestation verify' (gh 2.49 or later): update gh or set verify-attestation to auto" ;;
    auto | '')
      command -v gh >/dev/null 2>&1 || { log "apim-gate: gh not installed; attestation not checked (the pinned SHA-256 was)"; return 0; }
      case "${GITHUB_SERVER_URL:-https://github.com}" in
        https://github.com) ;;
        *) log "apim-gate: attestations are checked on github.com only; the pinned SHA-256 was"; return 0 ;;
      esac
      [ -n "$token" ] || { log "apim-gate: no token for gh (github-token is empty); attestation not checked (the pinned SHA-256 was)"; return 0; }
      gh attestation verify --help >/dev/null 2>&1 || { log "apim-gate: this gh has no 'attestation verify' (gh 2.49 or later); attestation not checked (the pinned SHA-256 was)"; return 0; } ;;
    *) fail "verify-attestation '$mode' is not auto, true or false" ;;
  esac
  # Only this repository's release workflow, on a GitHub-hosted runner, may have signed it.
  out=$(GH_TOKEN=$token gh attestation verify "$1" --repo "$2" \
    --signer-workflow "$2/.github/workflows/release.yml" --deny-self-hosted-runners 2>&1) || status=$?
  case "$status" in
    0) log "apim-gate: build provenance verified (gh attestation verify --repo $2, signed by its release.yml)" ;;
    # gh's exit code 4: authentication required (the token was refused); nothing was checked.
    4) [ "$mode" = auto ] || [ -z "$mode" ] ||
         fail "gh attestation verify $(basename "$1") could not sign in to GitHub with github-token (gh exit code 4): $(printf '%s' "$out" | tr '\n' ' ')"
       log "apim-gate: gh could not sign in with github-token (exit code 4); attestation not checked (the pinned SHA-256 was)" ;;
    *) fail "gh attestation verify $(basename "$1") --repo $2 --signer-workflow $2/.github/workflows/release.yml failed: $(printf '%s' "$out" | tr '\n' ' ')" ;;
  esac
}

download() { # url file
  local auth=()
  if [ -n "${DOWNLOAD_TOKEN:-}" ] && [ -z "${APIM_GATE_RELEASE_BASE_URL:-}" ]; then
    auth=(-H "Authorization: Bearer ${DOWNLOAD_TOKEN}")
  fi
  # https only, TLS 1.2 or later, redirects included (GitHub redirects assets to its CDN).
  curl --proto '=https' --proto-redir '=https' --tlsv1.2 -fsSL --retry 3 --retry-delay 2 \
    --connect-timeout 20 --max-time 300 ${auth[@]+"${auth[@]}"} -o "$2" "$1"
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
      emit_private_copy "$dir/$exe" "$asset" "$checksums" "the tool-cache copy of apim-gate $release" "$exe"
    fi
    base=${APIM_GATE_RELEASE_BASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/${repository}/releases/download}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if download "$base/$release/$asset" "$tmp/$asset" 2>"$tmp/err"; then
      verify_pinned "$tmp/$asset" "$asset" "$checksums" "the downloaded $asset of release $release"
      verify_attestation "$tmp/$asset" "$repository" "${VERIFY_ATTESTATION:-auto}"
      install_verified "$tmp/$asset" "$asset" "$checksums" "$dir" "$exe"
      log "apim-gate: $release ($asset) downloaded, SHA-256 matches the pinned hash, cached in $dir"
      emit_private_copy "$dir/$exe" "$asset" "$checksums" "the downloaded $asset of release $release" "$exe"
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
