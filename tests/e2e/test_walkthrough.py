"""The README's walkthrough, run as written against the local stack `make run` starts: the shell block after
`<!-- walkthrough -->` in README.md is executed as is (from a folder whose `.local` is the stack's), so the
README and this test cannot drift. Needs bash, curl and jq, as the README says."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Stack

ROLES = ("MANAGER", "AGENT", "ENGINEER", "FINANCE")


def walkthrough_script() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)\n```", readme, re.DOTALL)
    assert found, "README.md has no walkthrough block"
    return found.group(1)


def test_demo_env_holds_a_key_per_role_readable_by_its_owner_only(stack: Stack) -> None:
    env_file = stack.local_dir / "demo.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    demo = stack.demo()
    for name in ("SCRM_API_KEY", "SCRM_INTEGRATION_KEY", *(f"SCRM_KEY_{r}" for r in ROLES)):
        assert demo.get(name), name
    assert len({demo["SCRM_API_KEY"], *(demo[f"SCRM_KEY_{r}"] for r in ROLES)}) == 5  # one key each
    assert demo["SCRM_DEMO_CUSTOMER_ID"] and demo["SCRM_DEMO_ENGINEER_ID"]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the README uses curl and jq")
def test_the_readme_walkthrough_works_as_written(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / ".local").symlink_to(stack.local_dir)  # the script sources .local/demo.env
    run = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", walkthrough_script()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out: dict[str, list[str]] = {}
    for line in run.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out.setdefault(key, []).append(value)
    demo = stack.demo()
    assert out["ticket"] and out["ticket"][0] != "null", run.stdout
    # the first ticket is assigned: the demo engineer has a staff profile, on shift at any hour
    assert out["assigned"] == [demo["SCRM_DEMO_ENGINEER_ID"]], run.stdout
    assert out["status"] == ["open", "open", "open", "closed"], run.stdout
    # labour 150.00 for a repair, VIP 5 % off (张伟 is tagged VIP); the engineer's share of the split is 45 %
    assert out["bill"] == ["142.50"], run.stdout
    assert out["statement"] == ["64.12"], run.stdout  # 45 % of 142.50 = 64.125, to the even cent
