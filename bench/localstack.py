"""The real local stack (`python -m chalicelib.local`) as the benchmarks run it: on free ports in a temp dir,
with nothing able to reach the internet, a set number of worker processes, and a stop that never hangs."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import Stack, free_port


@dataclass
class BenchStack(Stack):
    workers: int = 2  # SCRM_LOCAL_WORKERS: the stack's environment carries none of the caller's SCRM_*

    @property
    def env(self) -> dict[str, str]:
        # Nothing may reach the internet: outbound HTTPS (WeCom, notification providers) goes to a closed
        # local port and fails at once, as during an outage (WeCom detail fetches stay queued for retry).
        return {
            **super().env,
            "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",
            "NO_PROXY": "127.0.0.1,localhost",
            "SCRM_LOCAL_WORKERS": str(self.workers),
        }

    def stop(self) -> None:
        # On SIGINT the stack stops its workers (≤ 15 s), then saves a snapshot of the whole table into the
        # temp dir, which is thrown away: a slow or hanging exit is not waited for beyond 30 s.
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def peak_rss_gb(self) -> float:
        """The stack process's peak resident memory (the moto server runs in it), Linux only."""
        if self.process is None:
            return 0.0
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
        return kb / 1024 / 1024


def new_stack(prefix: str, *, workers: int = 2) -> BenchStack:
    return BenchStack(Path(tempfile.mkdtemp(prefix=prefix)), free_port(), free_port(), workers=workers)


@contextmanager
def running(prefix: str, *, workers: int = 2) -> Iterator[BenchStack]:
    """A started stack, stopped and its temp dir removed on the way out."""
    stack = new_stack(prefix, workers=workers)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.local_dir, ignore_errors=True)
