"""Demo data survives a restart of `make run` (snapshot on clean shutdown, restore on start)."""

from __future__ import annotations

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
    finally:
        stack.stop()
