"""A/B: sticky routing, variant labels everywhere, statistics, the ab-report command."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from legal_edge.feedback import FeedbackStore, ResponseRecord
from legal_edge.server.ab import ABSplit
from legal_edge.tools.ab_report import ab_report_command, mann_whitney, report, two_proportions
from tests.legal_edge.helpers import chat, client, echo_runtime, wait_ready


def ab_client(db, split=0.5):
    return client(
        db, [echo_runtime("legal-v1", "A"), echo_runtime("legal-v2", "B")], ab_split=split
    )


def test_split_is_sticky_and_close_to_the_share():
    ab = ABSplit(alias="m1", a="m1", b="m2", split=0.2)
    picks = [ab.choose(f"user{i}") for i in range(5000)]
    assert abs(picks.count("m2") / 5000 - 0.2) < 0.02
    assert all(ab.choose(f"user{i}") == picks[i] for i in range(100))
    assert ab.route("m2", "user1") == "m2"  # asking for B by name reaches B
    assert ab.route("other", "user1") == "other"


def test_server_routes_and_labels_variants(tmp_path):
    db = tmp_path / "fb.db"
    with ab_client(db) as c:
        wait_ready(c)
        seen = {}
        for i in range(40):
            r = chat(c, f"问题 {i}", model="legal-v1", **{"X-User-Id": f"lawyer{i}"})
            assert r.status_code == 200
            variant = r.headers["x-model-variant"]
            assert r.json()["model"] == {"A": "legal-v1", "B": "legal-v2"}[variant]
            seen[f"lawyer{i}"] = variant
        assert set(seen.values()) == {"A", "B"}
        again = chat(c, "再问", model="legal-v1", **{"X-User-Id": "lawyer7"})
        assert again.headers["x-model-variant"] == seen["lawyer7"]  # sticky
        # the same API key always lands on the same variant
        keyed = {
            chat(c, "x", model="legal-v1", Authorization="Bearer k1").headers["x-model-variant"]
            for _ in range(5)
        }
        assert len(keyed) == 1
        rid = again.json()["id"]
        fb = c.post("/v1/feedback", json={"response_id": rid, "rating": "up"}).json()
        assert fb["variant"] == seen["lawyer7"]
        metrics = c.get("/metrics").text
        assert 'variant="A"' in metrics and 'variant="B"' in metrics
        v7 = seen["lawyer7"]
        assert f'legal_edge_feedback_total{{rating="up",variant="{v7}"}} 1.0' in metrics
    variants = {r["variant"] for r in FeedbackStore(db).rows("SELECT variant FROM responses")}
    assert variants == {"A", "B"}


def test_mann_whitney_matches_scipy():
    from scipy import stats  # the dev extra has scipy: a reference implementation

    rng = random.Random(3)
    x = [round(rng.gauss(0.30, 0.05), 2) for _ in range(60)]  # rounding makes ties
    y = [round(rng.gauss(0.33, 0.05), 2) for _ in range(45)]
    want = stats.mannwhitneyu(
        x, y, alternative="two-sided", use_continuity=True, method="asymptotic"
    ).pvalue
    assert mann_whitney(x, y) == pytest.approx(want, rel=1e-6)


def test_two_proportions_matches_chi_square():
    from scipy import stats  # the dev extra has scipy: a reference implementation

    # the pooled two-proportion z-test is the uncorrected 2x2 chi-square test
    for k1, n1, k2, n2 in ((50, 100, 65, 100), (3, 400, 12, 380), (30, 60, 50, 60)):
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        want = stats.chi2_contingency(table, correction=False).pvalue
        assert two_proportions(k1, n1, k2, n2) == pytest.approx(want, rel=1e-6)
    assert two_proportions(0, 10, 0, 10) == 1.0


def _fill(store, variant, n, latency, errors=0, up=0, down=0, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        rid = f"{variant}-{i}"
        store.record_response(
            ResponseRecord(
                id=rid,
                model=f"m-{variant}",
                variant=variant,
                route="chat",
                status=503 if i < errors else 200,
                duration_s=rng.uniform(0.8, 1.2) * latency,
            )
        )
    for i in range(up + down):
        store.add_feedback(f"{variant}-{n - 1 - i}", "up" if i < up else "down")


def test_report_says_when_data_is_short(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    _fill(store, "A", 12, 0.3, up=3)
    _fill(store, "B", 40, 0.3, up=5)
    rep = report(store)
    verdicts = {c["metric"]: c["verdict"] for c in rep["comparison"]}
    assert verdicts["latency"].startswith("not enough data: A has 12 requests")
    assert verdicts["feedback_score"].startswith("not enough data: 3 / 5 ratings")


def test_report_detects_a_real_difference(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    _fill(store, "A", 200, 0.40, errors=12, up=30, down=30, seed=1)
    _fill(store, "B", 200, 0.25, errors=1, up=50, down=10, seed=2)
    rep = report(store)
    verdicts = {c["metric"]: c["verdict"] for c in rep["comparison"]}
    assert verdicts["latency"].startswith("B is faster")
    assert verdicts["error_rate"].startswith("B is fewer errors")
    assert verdicts["feedback_score"].startswith("B is better rated")
    a = next(v for v in rep["variants"] if v["variant"] == "A")
    assert a["requests"] == 200 and a["errors"] == 12 and 0.3 < a["p50_s"] < 0.5


def test_report_no_difference_between_equal_variants(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    _fill(store, "A", 100, 0.3, up=20, down=10, seed=5)
    _fill(store, "B", 100, 0.3, up=20, down=10, seed=6)
    verdicts = [c["verdict"] for c in report(store)["comparison"]]
    assert all(v.startswith("no significant difference") for v in verdicts), verdicts


def test_ab_report_cli(tmp_path):
    db = tmp_path / "fb.db"
    with ab_client(db) as c:
        wait_ready(c)
        for i in range(10):
            chat(c, f"问题 {i}", model="legal-v1", **{"X-User-Id": f"u{i}"})
    r = CliRunner().invoke(ab_report_command, ["--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "p95 ms" in r.output and "not enough data" in r.output
    r = CliRunner().invoke(ab_report_command, ["--db", str(tmp_path / "missing.db")])
    assert r.exit_code != 0 and "not found" in r.output


def test_warmup_requests_are_left_out(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    _fill(store, "A", 40, 0.3, seed=1)
    for i in range(5):  # a cold engine: B's first answers are very slow
        store.record_response(
            ResponseRecord(
                id=f"cold{i}", model="m-B", variant="B", route="chat", status=200, duration_s=30.0
            )
        )
    _fill(store, "B", 40, 0.3, seed=2)
    assert report(store)["variants"][1]["p95_s"] > 10
    rep = report(store, warmup=5)
    b = next(v for v in rep["variants"] if v["variant"] == "B")
    assert b["requests"] == 40 and b["p95_s"] < 1
    assert rep["comparison"][0]["verdict"].startswith("no significant difference")
