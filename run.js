// Azure DevOps task entry point: starts the bundled apim-gate binary for this agent's OS and
// architecture with the task's environment unchanged (INPUT_*, ENDPOINT_*, SYSTEM_*), passes its
// output through and returns its exit code. No dependencies: azure-pipelines-task-lib would strip
// the INPUT_* and ENDPOINT_* variables the binary reads.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

// Logging-command data escaping, as azure-pipelines-task-lib writes it.
function escapeData(s) {
  return String(s).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function fail(message) {
  console.log(`##vso[task.logissue type=error]${escapeData(message)}`);
  console.log(`##vso[task.complete result=Failed;]${escapeData(message)}`);
  process.exit(2);
}

function binaryPath() {
  if (process.env.APIM_GATE_BIN) {
    return process.env.APIM_GATE_BIN;
  }
  const exe = process.platform === 'win32' ? 'apim-gate.exe' : 'apim-gate';
  return path.join(__dirname, 'bin', `${process.platform}-${process.arch}`, exe);
}

const bin = binaryPath();
if (!fs.existsSync(bin)) {
  fail(`apim-gate has no binary for ${process.platform}-${process.arch} at ${bin}. ` +
    'Use a linux-x64, linux-arm64, win32-x64 or darwin-arm64 agent, or set APIM_GATE_BIN to a binary.');
}
if (process.platform !== 'win32') {
  // The extension's zip does not keep the executable bit on every agent.
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch (_) {
    try {
      fs.chmodSync(bin, 0o755);
    } catch (e) {
      fail(`${bin} is not executable and cannot be made so: ${e.message}`);
    }
  }
}

const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit', env: process.env });
// The agent cancels a job with SIGINT, then SIGTERM: the gate must hear them to stop cleanly.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (e) => fail(`cannot start ${bin}: ${e.message}`));
child.on('exit', (code, signal) => {
  process.exit(code === null ? (signal ? 1 : 2) : code);
});
