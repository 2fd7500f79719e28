#!/usr/bin/env bash
# Assembles the Azure DevOps extension layout for `tfx extension create --root <out>`:
#
#   <out>/vss-extension.json
#   <out>/overview.md
#   <out>/ApimGate/{task.json,run.js}
#   <out>/ApimGate/bin/<node platform>-<node arch>/apim-gate[.exe]
#
# Usage: scripts/package-azure-devops.sh VERSION BINARIES_DIR OUT_DIR
#   VERSION       x.y.z (a leading v is dropped): the extension's and the task's version.
#   BINARIES_DIR  holds the release assets: apim-gate-<rust target>[.exe].
# PUBLISHER (environment) names the Marketplace publisher; default apim-gate.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 VERSION BINARIES_DIR OUT_DIR" >&2; exit 2; }
version=${1#v}
bins=$2
out=$3
publisher=${PUBLISHER:-apim-gate}
root=$(cd "$(dirname "$0")/.." && pwd)

[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "version '$version' is not x.y.z" >&2; exit 2; }
command -v node >/dev/null 2>&1 || { echo "node is needed to write the manifests" >&2; exit 2; }

rm -rf "$out"
task="$out/ApimGate"
mkdir -p "$task/bin"
cp "$root/run.js" "$task/run.js"

# Rust target → the directory run.js looks in (`${process.platform}-${process.arch}`).
found=0
while read -r target dir exe; do
  src="$bins/apim-gate-$target"
  [ "$exe" = apim-gate.exe ] && src="$src.exe"
  if [ -f "$src" ]; then
    mkdir -p "$task/bin/$dir"
    cp "$src" "$task/bin/$dir/$exe"
    chmod 755 "$task/bin/$dir/$exe"
    found=$((found + 1))
  else
    echo "note: no $src; agents on $dir will not find a binary" >&2
  fi
done <<'EOF'
x86_64-unknown-linux-musl linux-x64 apim-gate
aarch64-unknown-linux-musl linux-arm64 apim-gate
x86_64-pc-windows-msvc win32-x64 apim-gate.exe
aarch64-apple-darwin darwin-arm64 apim-gate
x86_64-apple-darwin darwin-x64 apim-gate
EOF
[ "$found" -gt 0 ] || { echo "no binaries found in $bins" >&2; exit 2; }

VERSION="$version" PUBLISHER="$publisher" ROOT="$root" OUT="$out" node <<'JS'
const fs = require('fs');
const path = require('path');
const { VERSION, PUBLISHER, ROOT, OUT } = process.env;
const [Major, Minor, Patch] = VERSION.split('.').map(Number);

const task = JSON.parse(fs.readFileSync(path.join(ROOT, 'task.json'), 'utf8'));
task.version = { Major, Minor, Patch };
fs.writeFileSync(path.join(OUT, 'ApimGate', 'task.json'), JSON.stringify(task, null, 2) + '\n');

const manifest = {
  manifestVersion: 1,
  id: 'apim-gate',
  publisher: PUBLISHER,
  version: VERSION,
  name: 'APIM gate',
  description: task.description,
  public: false,
  categories: ['Azure Pipelines'],
  tags: ['Azure API Management', 'Kubernetes', 'OpenAPI', 'release gate'],
  targets: [{ id: 'Microsoft.VisualStudio.Services' }],
  content: { details: { path: 'overview.md' } },
  repository: { type: 'git', uri: 'https://github.com/apim-gate/apim-gate' },
  files: [{ path: 'ApimGate' }],
  contributions: [
    {
      id: 'apim-gate-task',
      type: 'ms.vss-distributed-task.task',
      targets: ['ms.vss-distributed-task.tasks'],
      properties: { name: 'ApimGate' },
    },
  ],
};
fs.writeFileSync(path.join(OUT, 'vss-extension.json'), JSON.stringify(manifest, null, 2) + '\n');
fs.writeFileSync(
  path.join(OUT, 'overview.md'),
  `# APIM gate\n\n${task.description}\n\nSee ${manifest.repository.uri}#azure-devops for the inputs, ` +
    'the outputs and an example pipeline.\n'
);
JS
echo "extension layout in $out ($found binaries); next: npx tfx-cli extension create --root $out"
