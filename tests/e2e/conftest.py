"""E2E: the real local stack (`python -m chalicelib.local`, what `make run` starts) on free ports in a temp
dir, driven over HTTP and through the `scrm` CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_environment(local_dir: Path, api_port: int, aws_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRM_", "AWS_"))}
    env.update(
        {
            "SCRM_LOCAL_DIR": str(local_dir),
            "SCRM_API_PORT": str(api_port),
            "SCRM_AWS_PORT": str(aws_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class Stack:
    local_dir: Path
    api_port: int
    aws_port: int
    process: subprocess.Popen[bytes] | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more of the stack's environment (SCRM_LOCAL_*)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**stack_environment(self.local_dir, self.api_port, self.aws_port), **self.settings}

    def start(self, timeout: float = 60) -> None:
        log = open(self.local_dir / "stack.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.local_dir / "stack.log").read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            "local stack did not become healthy:\n" + (self.local_dir / "stack.log").read_text()
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)

    def demo(self) -> dict[str, str]:
        lines = (self.local_dir / "demo.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("stack"), free_port(), free_port())
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def admin_key(stack: Stack) -> str:
    return stack.demo()["SCRM_API_KEY"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
