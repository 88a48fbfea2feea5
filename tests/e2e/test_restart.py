"""Demo data survives a restart of `make run` (snapshot on clean shutdown, restore on start)."""

from __future__ import annotations

import boto3
import httpx

from tests.e2e.conftest import Stack, bearer, free_port


def test_data_and_demo_key_survive_a_restart(tmp_path):
    stack = Stack(tmp_path, free_port(), free_port())
    stack.start()
    try:
        key = stack.demo()["SCRM_API_KEY"]
        created = httpx.post(
            f"{stack.url}/v1/customers",
            headers=bearer(key),
            json={"name": "持久客户", "phone": "13811112222"},
        ).json()
        ticket = httpx.post(
            f"{stack.url}/v1/tickets",
            headers=bearer(key),
            json={
                "template_id": "repair",
                "customer_id": created["id"],
                "fields": {"fault_description": "异响"},
            },
        ).json()["ticket"]
    finally:
        stack.stop()
    assert (tmp_path / "snapshot.json").exists()

    stack.start()
    try:
        assert stack.demo()["SCRM_API_KEY"] == key
        got = httpx.get(f"{stack.url}/v1/customers/{created['id']}", headers=bearer(key))
        assert got.status_code == 200
        assert got.json()["phone"] == "+8613811112222"  # still decryptable: the local secret persisted too
        names = [
            c["name"]
            for c in httpx.get(f"{stack.url}/v1/customers?limit=100", headers=bearer(key)).json()["items"]
        ]
        assert names.count("持久客户") == 1 and names.count("张伟") == 1  # restored, not seeded twice
        # moto's executions did not survive the restart: the open ticket's SLA timer was started again
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        [machine] = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "scrm-ticket-sla"]
        running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
        names = [e["name"] for e in running]  # the demo's own open ticket has one too
        assert f"{ticket['id']}-1" in names and len(names) == len(set(names))
    finally:
        stack.stop()
