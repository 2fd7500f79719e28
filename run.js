// Azure DevOps task entry point: starts the bundled apim-gate binary for this agent's OS and
// architecture with the task's environment unchanged (INPUT_*, ENDPOINT_*, SYSTEM_*), passes its
// output through and returns its exit code. No dependencies: azure-pipelines-task-lib would strip
// the INPUT_* and ENDPOINT_* variables the binary reads.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

function binaryPath() {
  if (process.env.APIM_GATE_BIN) {
    return process.env.APIM_GATE_BIN;
  }
  const exe = process.platform === 'win32' ? 'apim-gate.exe' : 'apim-gate';
  return path.join(__dirname, 'bin', `${process.platform}-${process.arch}`, exe);
}

const bin = binaryPath();
if (!fs.existsSync(bin)) {
  console.log(`##vso[task.logissue type=error]apim-gate has no binary for ${process.platform}-${process.arch} at ${bin}. ` +
    'Use a linux-x64, linux-arm64, win32-x64 or darwin-arm64 agent, or set APIM_GATE_BIN to a binary.');
  console.log('##vso[task.complete result=Failed;]');
  process.exit(2);
}
const result = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit', env: process.env });
if (result.error) {
  console.log(`##vso[task.logissue type=error]cannot start ${bin}: ${result.error.message}`);
  process.exit(2);
}
process.exit(result.status === null ? 1 : result.status);
