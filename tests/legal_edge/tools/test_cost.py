"""legal-edge cost: capacity at P95 < 1 s, yuan per month and per 1,000 requests, cheapest."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from legal_edge.tools.cost import SECONDS_PER_MONTH, CostError, analyse, cost_command, load_points


def write(path, points, **meta):
    path.write_text(json.dumps({**meta, "points": points}), encoding="utf-8")
    return path


CPU = [
    {"concurrency": 1, "p95_s": 0.6, "throughput_rps": 1.5},
    {"concurrency": 4, "p95_s": 0.9, "throughput_rps": 4.0},
    {"concurrency": 8, "p95_s": 1.6, "throughput_rps": 5.0},
]
T4 = [
    {"concurrency": 8, "p95_ms": 400, "requests_per_s": 20.0},
    {"concurrency": 32, "p95_ms": 950, "requests_per_s": 60.0},
]


def test_capacity_is_the_best_point_under_the_target(tmp_path):
    points, _ = load_points(write(tmp_path / "cpu.json", CPU))
    rep = analyse({"cpu-server": points}, {"cpu-server": 400.0}, target_qps=10)
    row = rep["rows"][0]
    assert row["max_qps_p95_ok"] == 4.0 and row["at_concurrency"] == 4
    assert row["yuan_per_1k_requests"] == pytest.approx(400 / (4.0 * SECONDS_PER_MONTH) * 1000)
    assert row["machines_for_target"] == 3 and row["yuan_per_month_for_target"] == 1200


def test_cheapest_configuration_for_a_load(tmp_path):
    cpu, _ = load_points(write(tmp_path / "cpu.json", CPU))
    t4, _ = load_points(write(tmp_path / "t4.json", T4))
    prices = {"cpu-server": 400.0, "t4-16gb": 800.0}
    assert analyse({"cpu-server": cpu, "t4-16gb": t4}, prices, 3)["cheapest"] == "cpu-server"
    assert analyse({"cpu-server": cpu, "t4-16gb": t4}, prices, 50)["cheapest"] == "t4-16gb"
    slow = [{"concurrency": 1, "p95_s": 2.0, "throughput_rps": 1.0}]
    pts, _ = load_points(write(tmp_path / "slow.json", slow))
    rep = analyse({"cpu-server": pts}, prices, 1)
    assert rep["rows"][0]["max_qps_p95_ok"] == 0 and rep["cheapest"] is None


def test_bad_inputs_name_the_problem(tmp_path):
    bad = write(tmp_path / "bad.json", [{"concurrency": 1, "latency": 0.5}])
    with pytest.raises(CostError, match=r"bad.json: point 0: needs a P95"):
        load_points(bad)
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(CostError, match="broken.json"):
        load_points(tmp_path / "broken.json")
    with pytest.raises(CostError, match="no price for hardware 'h100'"):
        analyse({"h100": []}, {"t4-16gb": 800.0})


def test_cli_table_and_prices(tmp_path):
    cpu = write(tmp_path / "cpu.json", CPU)
    t4 = write(tmp_path / "t4.json", T4)
    r = CliRunner().invoke(
        cost_command,
        ["--bench", f"cpu-server={cpu}", "--bench", f"t4-16gb={t4}", "--target-qps", "50"],
    )
    assert r.exit_code == 0, r.output
    assert "cheapest for 50 QPS at P95 < 1.0 s: t4-16gb" in r.output
    prices = tmp_path / "prices.yaml"
    prices.write_text("cpu-server: 100\nt4-16gb: 5000\n", encoding="utf-8")
    r = CliRunner().invoke(
        cost_command,
        [
            "--bench",
            f"cpu-server={cpu}",
            "--bench",
            f"t4-16gb={t4}",
            "--target-qps",
            "50",
            "--prices",
            str(prices),
            "--json",
        ],
    )
    assert json.loads(r.output)["cheapest"] == "cpu-server"
    r = CliRunner().invoke(cost_command, ["--bench", str(cpu)])
    assert r.exit_code != 0 and "HARDWARE=FILE" in r.output


def test_cost_reads_real_bench_results(tmp_path):
    """legal-edge bench against a live server (echo backend), then cost on its JSON."""
    from legal_edge.backends.base import BackendOptions
    from legal_edge.backends.echo import EchoBackend
    from legal_edge.server.app import create_app
    from legal_edge.settings.server import Settings
    from legal_edge.tools.bench import run_bench
    from tests.fixtures.live_server import live_server
    from tests.legal_edge.helpers import echo_manifest

    backend = EchoBackend(
        echo_manifest(), BackendOptions(n_ctx=256, n_parallel=2, extra={"echo_delay_s": 0.01})
    )
    with live_server(create_app(Settings(backend="echo"), backend=backend)) as url:
        result = run_bench(
            url,
            concurrency=[1, 2, 4],
            requests=3,
            max_tokens=8,
            prompts=["合同 违约 责任 如何 认定 请 说明 理由 以及 依据"],
        )
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    points, _ = load_points(path)
    assert [p.concurrency for p in points] == [1, 2, 4]
    levels = result["levels"]
    assert points[1].p95_s == levels[1]["latency_s"]["p95"]
    assert points[1].qps == pytest.approx(levels[1]["requests"] / levels[1]["wall_s"])
    assert 0.05 < points[0].p95_s < 1.0  # 8 tokens x 10 ms
    r = CliRunner().invoke(cost_command, ["--bench", f"cpu-server={path}", "--target-qps", "5"])
    assert r.exit_code == 0, r.output
    rep = analyse({"cpu-server": points}, {"cpu-server": 400.0}, 5)
    assert rep["rows"][0]["max_qps_p95_ok"] == max(p.qps for p in points)
    ttft, _ = load_points(path, "ttft_s")
    assert all(t.p95_s <= p.p95_s for t, p in zip(ttft, points, strict=True))
