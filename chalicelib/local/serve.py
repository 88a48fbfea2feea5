"""The processes of the local stack besides moto: `api` serves HTTP (chalice.local), `worker` runs the event
runner. Separate processes, as on AWS, where API Gateway, each Lambda and DynamoDB run apart: they do not
share one interpreter lock, so a busy worker does not slow the acks, and several workers poll side by side
like concurrent Lambda invocations of one event source.

    python -m chalicelib.local.serve api
    python -m chalicelib.local.serve worker [--schedules]

Started by `chalicelib.local.stack` with the stack's environment (endpoints, queue URLs, secret)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.serve")
    parser.add_argument("role", choices=["api", "worker"])
    parser.add_argument("--schedules", action="store_true", help="also fire the app's schedules (one worker)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lifeline = os.environ.get("SCRM_LOCAL_LIFELINE_FD")
    if lifeline:
        threading.Thread(target=_stop_with_parent, args=(int(lifeline), stop), daemon=True).start()

    import boto3

    from app import app

    if args.role == "api":
        from chalicelib.local.http import make_server

        server = make_server(
            app, os.environ.get("SCRM_API_HOST", "127.0.0.1"), int(os.environ["SCRM_API_PORT"])
        )
        threading.Thread(target=server.server.serve_forever, name="http", daemon=True).start()
        stop.wait()
        server.shutdown()
        return

    from chalicelib.local.runner import EventRunner

    sqs = boto3.client("sqs", endpoint_url=os.environ["SCRM_AWS_ENDPOINT"])
    runner = EventRunner(app, sqs)
    runner.start(schedules=args.schedules)
    stop.wait()
    runner.stop()


def _stop_with_parent(fd: int, stop: threading.Event) -> None:
    """The stack process holds this pipe's other end: EOF means it is gone (killed, crashed), and a child
    left behind would keep the port or poll a moto that no longer exists."""
    while os.read(fd, 1):
        pass
    stop.set()


if __name__ == "__main__":
    main()
