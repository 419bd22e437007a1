"""The benchmark suite in smoke mode (tiny data, about a second per scenario): it must run
end to end and write its report, so it cannot rot. No timing is asserted; what does not
depend on the machine is (no errors, nothing oversold, SQL statements per request)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from run_tests import find_binary
from tests.conftest import ROOT


@pytest.mark.timeout(300)
def test_benchmark_smoke_run_writes_a_report(tmp_path):
    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "TEST_DATABASE_URL": f"{server}/postgres",
        "TEST_REDIS_URL": os.environ["REDIS_URL"].rsplit("/", 1)[0],
    }
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--no-install",
         "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    reports = list(tmp_path.glob("*-smoke.json"))
    assert len(reports) == 1
    results = json.loads(reports[0].read_text())
    assert (tmp_path / reports[0].name.replace(".json", ".md")).exists()

    measured = {scenario["key"]: scenario for scenario in results["scenarios"]}
    assert {"product_list_cached", "product_list_uncached", "cart_read", "checkout", "webhook",
            "add_to_cart_contention", "dashboard", "login"} <= set(measured)
    for scenario in measured.values():
        # One production-strength login hash can outlast a smoke run's second of load.
        if scenario["key"] != "login":
            assert scenario["requests"] > 0, scenario["key"]
        assert scenario["errors"] == 0, (scenario["key"], scenario["runs"])
    assert results["ceiling"]["py"]["rps"] > 0

    contention = measured["add_to_cart_contention"]
    assert contention["stock_check"]["oversold_units"] == 0
    # The stack floor answered the same adds for real: more units reserved, books agreeing.
    floor = contention["stack_floor"]
    assert floor["requests"] > 0 and floor["errors"] == 0, floor["runs"]
    assert floor["stock_check"]["reserved_stock"] > contention["stock_check"]["reserved_stock"]
    assert floor["stock_check"]["books_agree"] and floor["stock_check"]["oversold_units"] == 0
    assert floor["ratio"] > 0
    [verdict] = [t for t in results["targets"] if t["target"].startswith(contention["title"])]
    assert verdict["stack_floor"] == floor["ratio"]
    summary = (tmp_path / reports[0].name.replace(".json", ".md")).read_text()
    assert "## Stack floor" in summary
    assert results["oversell"]["accepted"] == results["oversell"]["stock"]
    assert results["oversell"]["oversold_units"] == 0

    # PostgreSQL alone replays exactly the statements the uncached list and the contended
    # add to cart run; the add's replay commits (new guests each time, so no unique id
    # collides and every replayed request succeeds).
    for key in ("product_list_uncached", "add_to_cart_contention"):
        alone = measured[key]["database_alone"]
        if find_binary("pgbench"):
            assert alone["rps"] > 0, key
            assert alone["statements"] == results["sql"][key]["statements"], key
            assert 0 < alone["cpu_busy"] <= 1, key
            assert alone["bound"] <= alone["ratio"], key
        else:
            assert alone is None
    if find_binary("pgbench"):
        assert measured["add_to_cart_contention"]["database_alone"]["commits"]
        assert not measured["product_list_uncached"]["database_alone"]["commits"]

    structural = [t for t in results["targets"] if t["target"].startswith(("SQL", "same"))]
    assert structural and all(t["met"] for t in structural), structural
