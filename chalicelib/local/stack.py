"""`make run`: the whole system on one machine.

moto in server mode on 127.0.0.1 (DynamoDB, SQS, Step Functions, EventBridge), the declared resources,
the demo tenant, then the HTTP API (chalice.local) and the event runners for SQS consumers and schedules in
processes of their own (`chalicelib.local.serve`), restarted alone when one dies, as Lambda would.
What moto acknowledges (table writes, queued messages) is journaled to `.local/` before its answer goes out
and restored on start, after a clean stop or a crash (`journal.py`)."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_REGION = "us-east-1"
HEALTHY_SECONDS = 30.0  # a child that ran this long before it died is restarted at once
MAX_BACKOFF_SECONDS = 30.0
LIFELINE_ENV = "SCRM_LOCAL_LIFELINE_FD"  # children exit when this pipe closes: the stack process is gone


@dataclass
class StackConfig:
    local_dir: Path
    api_port: int
    aws_port: int
    host: str = "127.0.0.1"
    seed: bool = True
    workers: int = 2  # worker processes, like concurrent Lambda invocations of the queue consumers
    # At most this visibility timeout on every queue (None: the declared ones): how long the messages a
    # killed worker held stay hidden before they are delivered again. Tests shorten it.
    visibility_timeout: int | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls(
            local_dir=Path(os.environ.get("SCRM_LOCAL_DIR", ".local")).resolve(),
            api_port=int(os.environ.get("SCRM_API_PORT", "8000")),
            aws_port=int(os.environ.get("SCRM_AWS_PORT", "5000")),
            seed=os.environ.get("SCRM_SEED", "1") != "0",
            workers=max(1, int(os.environ.get("SCRM_LOCAL_WORKERS", "2"))),
            visibility_timeout=int(os.environ["SCRM_LOCAL_VISIBILITY_TIMEOUT"])
            if os.environ.get("SCRM_LOCAL_VISIBILITY_TIMEOUT")
            else None,
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment every process talking to this stack uses (the app, the CLI, tests)."""
    from chalicelib.local.snapshot import write_private

    key_file = cfg.local_dir / "secret.key"
    if not key_file.exists():
        write_private(key_file, base64.b64encode(os.urandom(32)))
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


@dataclass
class Child:
    """A process of the stack (`serve.py` arguments) and what its supervisor knows of it."""

    args: list[str]
    process: subprocess.Popen[bytes]
    started: float  # time.monotonic()
    quick_exits: int = 0  # exits in a row, each before it had run HEALTHY_SECONDS
    restart_at: float | None = None

    @property
    def name(self) -> str:
        return " ".join(self.args)


class LocalStack:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self._stopped = threading.Event()
        self.demo: dict[str, str] = {}
        self._children: list[Child] = []
        self._journal: Any = None
        # The write end stays in this process only: when it dies, however it dies, the children's end
        # reads EOF and they stop (nothing is left holding the API port for the next start).
        self._lifeline, self._lifeline_w = os.pipe()

    def start(self) -> None:
        cfg = self.cfg
        cfg.local_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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

        from chalicelib.local.journal import Journal
        from chalicelib.local.provision import provision
        from chalicelib.local.snapshot import write_private

        session = boto3.Session(region_name=LOCAL_REGION)
        resources_env = provision(
            session, cfg.endpoint, env["SCRM_TABLE_NAME"], visibility_timeout=cfg.visibility_timeout
        )
        os.environ.update(resources_env)
        # Before anything else writes: the tables and queues as they were acknowledged, then every change
        # journaled from here on.
        self._journal = Journal(cfg.local_dir)
        restored, queued, replayed = self._journal.recover()
        self._journal.start()
        write_private(cfg.local_dir / "stack.env", _env_lines({**env, **resources_env}).encode())

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
        write_private(  # before /health answers: clients wait for that, then read it
            cfg.local_dir / "demo.env",
            _env_lines({"SCRM_API_URL": cfg.api_url, **demo_env(self.demo)}).encode(),
        )
        threading.Thread(target=self._compaction_loop, name="compaction", daemon=True).start()
        self._children = [self._spawn(["api"])]
        for n in range(cfg.workers):
            self._children.append(self._spawn(["worker", *(["--schedules"] if n == 0 else [])]))
        self._wait_healthy()
        print(
            f"SCRM local stack ready ({restored} items and {queued} queued messages restored; "
            f"{replayed} journal records replayed)"
        )
        print(f"  API        {cfg.api_url}   (docs: {cfg.api_url}/docs, health: {cfg.api_url}/health)")
        print(f"  AWS (moto) {cfg.endpoint}; {cfg.workers} worker processes (SCRM_LOCAL_WORKERS)")
        print(f"  demo admin API key: {self.demo.get('key_admin', '(seeding disabled)')}")
        print(f"  demo integration key (/v1/events, /v1/h5/tickets): {self.demo.get('key_integration', '-')}")
        print(f"  written to {cfg.local_dir / 'demo.env'}; stop with Ctrl-C (data is kept)")
        sys.stdout.flush()

    def _spawn(self, args: list[str]) -> Child:
        env = {
            **os.environ,
            "SCRM_API_PORT": str(self.cfg.api_port),
            "SCRM_API_HOST": self.cfg.host,
            LIFELINE_ENV: str(self._lifeline),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.serve", *args], env=env, pass_fds=(self._lifeline,)
        )
        return Child(args, process, time.monotonic())

    def supervise(self) -> None:
        """A child that died is started again alone, as Lambda starts a new execution environment: at
        once after a healthy run, then with a growing pause while it keeps dying young."""
        if self._stopped.is_set():
            return
        now = time.monotonic()
        for child in self._children:
            code = child.process.poll()
            if code is not None and child.restart_at is None:
                child.quick_exits = child.quick_exits + 1 if now - child.started < HEALTHY_SECONDS else 0
                pause = min(MAX_BACKOFF_SECONDS, 0.5 * 2**child.quick_exits) if child.quick_exits else 0.0
                child.restart_at = now + pause
                print(
                    f"local stack: `{child.name}` (pid {child.process.pid}) exited with {code}; "
                    f"restarting it in {pause:.1f} s",
                    file=sys.stderr,
                )
            if child.restart_at is not None and now >= child.restart_at:
                restarted = self._spawn(child.args)
                child.process, child.started, child.restart_at = restarted.process, now, None
                print(f"local stack: `{child.name}` restarted (pid {child.process.pid})", file=sys.stderr)
        sys.stderr.flush()

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
            if child.process.poll() is not None:
                return child.name
        return None

    def _demo(self, c: Any) -> dict[str, str]:
        demo_file = self.cfg.local_dir / "demo.json"
        if demo_file.exists():
            data: dict[str, str] = json.loads(demo_file.read_text())
            if c.tenant_repo.get_tenant(data["tenant_id"]) is not None:
                return data
        if not self.cfg.seed:
            return {}
        from chalicelib.local.seed import seed_demo
        from chalicelib.local.snapshot import write_private

        data = seed_demo(c)
        write_private(demo_file, json.dumps(data, ensure_ascii=False, indent=2).encode())
        return data

    def _compaction_loop(self) -> None:
        """The journal folded into a new snapshot whenever it has grown large (replaying it is start-up
        time); the journal itself already keeps everything, so this is about start-up, not safety."""
        journal = self._journal
        while not self._stopped.is_set():
            if not journal.compaction_due.wait(1.0) or self._stopped.is_set():
                continue
            try:
                journal.compact()
            except Exception:  # the journal still holds every change; the next try or the stop compacts
                logging.getLogger(__name__).exception("journal compaction failed")
                self._stopped.wait(10)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for child in self._children:
            if child.process.poll() is None:
                child.process.terminate()
        for child in self._children:
            try:
                child.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.process.kill()
        if self._journal is not None:
            count = self._journal.compact()  # a short journal for the next start
            self._journal.close()
            print(f"snapshot: {count} items saved to {self._journal.snapshot_path}")
        self._moto.stop()


def _post_json(url: str, payload: dict[str, Any]) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def demo_env(demo: dict[str, str]) -> dict[str, str]:
    """.local/demo.env's demo part: SCRM_API_KEY is the admin's (what the CLI reads); a key per other role
    (SCRM_KEY_AGENT, …), the integration key, and the ids the README's walkthrough names."""
    env = {"SCRM_API_KEY": demo.get("key_admin", "")}
    for name, value in sorted(demo.items()):
        kind, _, what = name.partition("_")
        if kind == "key" and what == "integration":
            env["SCRM_INTEGRATION_KEY"] = value
        elif kind == "key" and what != "admin":
            env[f"SCRM_KEY_{what.upper()}"] = value
        elif kind == "user":  # user_engineer → SCRM_DEMO_ENGINEER_ID
            env[f"SCRM_DEMO_{what.upper()}_ID"] = value
        elif name == "customer_id":
            env["SCRM_DEMO_CUSTOMER_ID"] = value
    return env


def _env_lines(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


PORT_VARIABLES = (("SCRM_API_PORT", "api_port"), ("SCRM_AWS_PORT", "aws_port"))


def busy_ports(cfg: StackConfig) -> list[str]:
    """The ports the stack needs that it cannot bind, each named by the variable that sets it. Checked
    before moto starts, so a busy port stops `make run` with a message instead of half a stack."""
    busy = []
    for variable, attribute in PORT_VARIABLES:
        port = getattr(cfg, attribute)
        with socket.socket() as s:
            # As the servers bind: a port left in TIME_WAIT by the last run is free, a listening one is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((cfg.host, port))
            except OSError:
                busy.append(f"{variable}={port}")
    return busy


def main() -> None:
    cfg = StackConfig.from_env()
    busy = busy_ports(cfg)
    if busy:
        names = " and ".join(b.split("=", 1)[0] for b in busy)
        print(
            f"error: cannot start the local stack: port in use ({', '.join(busy)} on {cfg.host}). "
            f"Stop what holds it, or choose a free port with {names} (e.g. SCRM_API_PORT=8001 make run).",
            file=sys.stderr,
        )
        sys.exit(1)
    stack = LocalStack(cfg)
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
    while not done.wait(0.25):
        stack.supervise()
    stack.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # moto runs each state machine execution in a thread of its own, and a ticket's SLA timer may sleep for
    # days in a Wait state: those threads would keep the process alive after everything was saved.
    os._exit(0)


if __name__ == "__main__":
    main()
