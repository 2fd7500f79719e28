// Azure DevOps task entry point: starts the apim-gate binary bundled for this agent's OS and
// architecture (and no other) with the task's environment unchanged (INPUT_*, ENDPOINT_*,
// SYSTEM_*), passes its output through and returns its exit code. No dependencies: azure-pipelines-task-lib would strip
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

// Only the binary shipped inside this extension runs, with the service connection's secrets in
// its environment: no variable can point the task at another file (every pipeline variable, a
// queue-time one or an earlier step's task.setvariable, reaches this process's environment), and
// a path that resolves outside the task's directory (a symlink, `..`) is refused.
function bundledBinary() {
  const exe = process.platform === 'win32' ? 'apim-gate.exe' : 'apim-gate';
  const platform = `${process.platform}-${process.arch}`;
  const candidate = path.join(__dirname, 'bin', platform, exe);
  let resolved;
  try {
    resolved = fs.realpathSync(candidate);
  } catch (_) {
    fail(`apim-gate has no binary for ${platform} at ${candidate}. ` +
      'Use a linux-x64, linux-arm64, win32-x64, darwin-arm64 or darwin-x64 agent.');
  }
  const home = fs.realpathSync(__dirname);
  const rel = path.relative(home, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    fail(`${candidate} resolves to ${resolved}, outside the task's directory ${home}: refusing to run it. ` +
      'Reinstall the extension.');
  }
  if (!fs.statSync(resolved).isFile()) {
    fail(`${resolved} is not a file. Reinstall the extension.`);
  }
  return resolved;
}

const bin = bundledBinary();
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
