"""The README's main-job command does real work: sites, broker, couriers, consumers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.broker


def test_demo_runs_sites_end_to_end_to_a_clean_verdict(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "protocols.cli",
            "demo",
            "--sites",
            "2",
            "--parcels",
            "6",
            "--report",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "clean"
    assert summary["deposited"] == summary["picked_up"] == 6
    assert summary["events_lost"] == 0
    assert summary["events_received"] == summary["events_sent"] >= 6 * 6
