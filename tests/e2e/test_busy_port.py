"""`make run` with a port something else holds stops at once, naming the variable that sets the port, before
anything says ready (nothing of the stack starts)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, free_port, stack_environment


@pytest.mark.parametrize("variable", ["SCRM_API_PORT", "SCRM_AWS_PORT"])
def test_a_busy_port_stops_the_stack_naming_its_variable(tmp_path: Path, variable: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        ports = {"SCRM_API_PORT": free_port(), "SCRM_AWS_PORT": free_port(), variable: busy}
        env = stack_environment(tmp_path, ports["SCRM_API_PORT"], ports["SCRM_AWS_PORT"])

        run = subprocess.run(
            [sys.executable, "-m", "chalicelib.local"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run.returncode != 0
    assert f"{variable}={busy}" in run.stderr and "port in use" in run.stderr
    assert "ready" not in run.stdout + run.stderr
    assert not (tmp_path / "stack.env").exists()  # nothing started
