"""GET /v1/statutes/*: search and look-up over a small real index, behind the API key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import client

KEY = {"Authorization": "Bearer k1"}

pytestmark = pytest.mark.slow  # builds the small index (tests/fixtures/statute_index.py)


def test_search_and_show(small_statute_index: Path) -> None:  # noqa: F811
    with client(None, statutes_index=small_statute_index, api_keys=("k1",)) as c:
        assert c.get("/v1/statutes/search", params={"q": "醉酒驾驶机动车"}).status_code == 401
        r = c.get(
            "/v1/statutes/search", params={"q": "醉酒驾驶机动车会判刑吗", "k": 3}, headers=KEY
        )
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert len(data) == 3 and all(d["status"] == "in_force" for d in data)
        assert ("中华人民共和国刑法", "133-1") in [(d["law"], d["number"]) for d in data]
        r = c.get("/v1/statutes/刑法/第一百三十三条之一", headers=KEY)
        assert r.status_code == 200, r.text
        assert r.json()["label"] == "第一百三十三条之一" and "醉酒" in r.json()["text"]
        old = c.get("/v1/statutes/公司法/1", params={"date": "2020-06-01"}, headers=KEY).json()
        assert old["version"] == "2018-10-26" and len(old["versions"]) == 2
        paths = c.get("/schema/openapi.json").json()["paths"]
        assert "/v1/statutes/search" in paths and "/v1/statutes/{law}/{article}" in paths


def test_errors_are_openai_shaped(small_statute_index: Path) -> None:  # noqa: F811
    with client(None, statutes_index=small_statute_index) as c:
        r = c.get("/v1/statutes/刑法/第九百条")
        assert r.status_code == 404 and r.json()["error"]["code"] == "article_not_found"
        r = c.get("/v1/statutes/没有这部法/1")
        assert r.status_code == 404 and r.json()["error"]["code"] == "law_not_found"
        r = c.get("/v1/statutes/刑法/abc")
        assert r.status_code == 400 and r.json()["error"]["param"] == "article"
        r = c.get("/v1/statutes/search", params={"q": "盗窃", "date": "2020-13-01"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "date"
    with client(None) as c:
        r = c.get("/v1/statutes/search", params={"q": "盗窃"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "statutes_unavailable"
