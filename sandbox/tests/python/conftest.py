"""Starts `apim-sandbox serve` once per test session and hands its env file to the tests.

The binary is taken from APIM_SANDBOX_BIN, else target/debug/apim-sandbox at the workspace root.
"""

import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def _binary() -> str:
    explicit = os.environ.get("APIM_SANDBOX_BIN")
    if explicit:
        return explicit
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "apim-sandbox")


def _read_env(path: pathlib.Path) -> dict:
    env = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


class RunningSandbox:
    def __init__(self, proc: subprocess.Popen, env: dict):
        self.proc = proc
        self.env = env

    def __getitem__(self, key: str) -> str:
        return self.env[key]


def start_sandbox(*args: str) -> RunningSandbox:
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="sandbox-py-"))
    env_file = workdir / "sandbox.env"
    proc = subprocess.Popen(
        [_binary(), "serve", "--env-out", str(env_file), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r} {proc.stderr.read()}")
    return RunningSandbox(proc, _read_env(env_file))


def stop_sandbox(sandbox: RunningSandbox) -> None:
    sandbox.proc.terminate()
    try:
        sandbox.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sandbox.proc.kill()


@pytest.fixture(scope="session")
def sandbox():
    running = start_sandbox(
        "--spec", str(FIXTURES / "swashbuckle" / "basic-swagger2.json"),
        "--spec", str(FIXTURES / "swashbuckle" / "basic-openapi30.json"),
        "--retry-after", "0",
    )
    yield running
    stop_sandbox(running)
