"""`make run`: the whole system on one machine.

moto in server mode on 127.0.0.1 (DynamoDB, SQS, Step Functions, EventBridge), the declared resources,
the demo tenant, then the HTTP API (chalice.local) and the event runners for SQS consumers and schedules in
processes of their own (`chalicelib.local.serve`).
Data is snapshotted to `.local/` on clean shutdown and restored on start."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_REGION = "us-east-1"
AUTOSAVE_SECONDS = 60


@dataclass
class StackConfig:
    local_dir: Path
    api_port: int
    aws_port: int
    host: str = "127.0.0.1"
    seed: bool = True
    workers: int = 2  # worker processes, like concurrent Lambda invocations of the queue consumers

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls(
            local_dir=Path(os.environ.get("SCRM_LOCAL_DIR", ".local")).resolve(),
            api_port=int(os.environ.get("SCRM_API_PORT", "8000")),
            aws_port=int(os.environ.get("SCRM_AWS_PORT", "5000")),
            seed=os.environ.get("SCRM_SEED", "1") != "0",
            workers=max(1, int(os.environ.get("SCRM_LOCAL_WORKERS", "2"))),
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment every process talking to this stack uses (the app, the CLI, tests)."""
    key_file = cfg.local_dir / "secret.key"
    if not key_file.exists():
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
        key_file.chmod(0o600)
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "SCRM_AWS_ENDPOINT": cfg.endpoint,
        "SCRM_SECRET_KEY": key_file.read_text().strip(),
        "SCRM_TABLE_NAME": "scrm",
        "SCRM_STAGE": "local",
        "MOTO_PORT": str(cfg.aws_port),  # moto's Step Functions integrations call back to this port
    }


class LocalStack:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self._stopped = threading.Event()
        self._save_lock = threading.Lock()  # autosave and the shutdown save write the same file
        self.demo: dict[str, str] = {}
        self._children: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        cfg = self.cfg
        cfg.local_dir.mkdir(parents=True, exist_ok=True)
        env = stack_env(cfg)
        os.environ.update(env)

        from chalicelib.local import moto_patches
        from chalicelib.local.motoserver import MotoServer

        moto_patches.install()

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log

        self._moto = MotoServer(cfg.host, cfg.aws_port)
        self._moto.start()
        _post_json(f"{cfg.endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

        import boto3

        from chalicelib.local.provision import provision
        from chalicelib.local.snapshot import restore

        session = boto3.Session(region_name=LOCAL_REGION)
        resources_env = provision(session, cfg.endpoint, env["SCRM_TABLE_NAME"])
        os.environ.update(resources_env)
        self._dynamodb = session.client("dynamodb", endpoint_url=cfg.endpoint)
        restored = restore(self._dynamodb, env["SCRM_TABLE_NAME"], self.snapshot_path)
        (cfg.local_dir / "stack.env").write_text(_env_lines({**env, **resources_env}))

        # Only now may chalicelib read its settings: the environment above is complete.
        from chalicelib.bootstrap import container

        self.demo = self._demo(container())
        if restored:
            from chalicelib.local.rearm import rearm_open_tickets

            rearmed = rearm_open_tickets(container())
            print(f"  {rearmed} open tickets: SLA timers and approval waits started again")
            # A snapshot from before the tenant registry: its tenants get their rows (month-end schedule).
            if registered := container().tenants.backfill_registry():
                print(f"  {registered} tenants added to the tenant registry")
        (
            cfg.local_dir / "demo.env"
        ).write_text(  # before /health answers: clients wait for that, then read it
            _env_lines({"SCRM_API_URL": cfg.api_url, "SCRM_API_KEY": self.demo.get("key_admin", "")})
        )
        self._autosave = threading.Thread(target=self._autosave_loop, name="autosave", daemon=True)
        self._autosave.start()
        self._spawn(["api"])
        for n in range(cfg.workers):
            self._spawn(["worker", *(["--schedules"] if n == 0 else [])])
        self._wait_healthy()
        print(f"SCRM local stack ready ({restored} items restored from snapshot)")
        print(f"  API        {cfg.api_url}   (docs: {cfg.api_url}/docs, health: {cfg.api_url}/health)")
        print(f"  AWS (moto) {cfg.endpoint}; {cfg.workers} worker processes (SCRM_LOCAL_WORKERS)")
        print(f"  demo admin API key: {self.demo.get('key_admin', '(seeding disabled)')}")
        print(f"  demo integration key (/v1/events, /v1/h5/tickets): {self.demo.get('key_integration', '-')}")
        print(f"  written to {cfg.local_dir / 'demo.env'}; stop with Ctrl-C (data is kept)")
        sys.stdout.flush()

    def _spawn(self, args: list[str]) -> None:
        env = {**os.environ, "SCRM_API_PORT": str(self.cfg.api_port), "SCRM_API_HOST": self.cfg.host}
        self._children.append(
            subprocess.Popen([sys.executable, "-m", "chalicelib.local.serve", *args], env=env)
        )

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.failed_child():
                raise RuntimeError(f"local stack: a process exited at start-up ({self.failed_child()})")
            try:
                with urllib.request.urlopen(f"{self.cfg.api_url}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("local stack: the API did not answer /health")

    def failed_child(self) -> str | None:
        """The command line of a child process that has exited (the stack is broken without it)."""
        for child in self._children:
            if child.poll() is not None:
                return " ".join(str(a) for a in child.args[2:])  # type: ignore[index]
        return None

    @property
    def snapshot_path(self) -> Path:
        return self.cfg.local_dir / "snapshot.json"

    def _demo(self, c: Any) -> dict[str, str]:
        demo_file = self.cfg.local_dir / "demo.json"
        if demo_file.exists():
            data: dict[str, str] = json.loads(demo_file.read_text())
            if c.tenant_repo.get_tenant(data["tenant_id"]) is not None:
                return data
        if not self.cfg.seed:
            return {}
        from chalicelib.local.seed import seed_demo

        data = seed_demo(c)
        demo_file.write_text(json.dumps(data, ensure_ascii=False, indent=2))
        demo_file.chmod(0o600)
        return data

    def _autosave_loop(self) -> None:
        """A snapshot every minute too, so even a killed `make run` loses at most a minute of demo data."""
        from chalicelib.local.snapshot import save

        while not self._stopped.wait(AUTOSAVE_SECONDS):
            try:
                with self._save_lock:
                    save(self._dynamodb, os.environ["SCRM_TABLE_NAME"], self.snapshot_path)
            except Exception:  # a failed autosave must not stop the stack; the shutdown save still runs
                logging.getLogger(__name__).exception("autosave failed")

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        from chalicelib.local.snapshot import save

        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        with self._save_lock:
            count = save(self._dynamodb, os.environ["SCRM_TABLE_NAME"], self.snapshot_path)
        print(f"snapshot: {count} items saved to {self.snapshot_path}")
        self._moto.stop()


def _post_json(url: str, payload: dict[str, Any]) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def _env_lines(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def main() -> None:
    stack = LocalStack(StackConfig.from_env())
    done = threading.Event()

    def _shutdown(signum: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGINT, _shutdown)
    signal.signal(signal.SIGTERM, _shutdown)
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    failed: str | None = None
    while not done.wait(0.5):
        failed = stack.failed_child()
        if failed:
            print(f"local stack: `{failed}` exited; stopping", file=sys.stderr)
            break
    stack.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # moto runs each state machine execution in a thread of its own, and a ticket's SLA timer may sleep for
    # days in a Wait state: those threads would keep the process alive after everything was saved.
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
