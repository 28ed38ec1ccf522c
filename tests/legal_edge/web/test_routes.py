"""The page's routes without a browser: headers, what ships, and the API left as it was."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from litestar.testing import TestClient

from legal_edge import __version__
from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from legal_edge.web import SCRIPTS, STATIC_TYPES
from tests.legal_edge.helpers import echo_manifest, wait_ready

REPO = Path(__file__).resolve().parents[3]
KEY = "office-key-2026"


def client(**settings_kw: object) -> TestClient:
    backend = EchoBackend(echo_manifest(), BackendOptions(n_ctx=256))
    return TestClient(create_app(Settings(backend="echo", **settings_kw), backend=backend))  # type: ignore[arg-type]


@pytest.fixture
def c() -> Iterator[TestClient]:
    with client(api_keys=(KEY,)) as tc:
        wait_ready(tc)
        yield tc


@pytest.mark.parametrize("path", ["/", "/static/main.js", "/static/sse.js", "/static/app.css"])
def test_page_files_carry_the_security_headers(c: TestClient, path: str) -> None:
    r = c.get(path)  # no API key: the page itself is public, it asks for the key
    assert r.status_code == 200
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"  # nothing inline
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    kind = (
        "text/html" if path == "/" else "text/css" if path.endswith(".css") else "text/javascript"
    )
    assert r.headers["content-type"].startswith(kind)


def test_the_page_has_no_inline_script_style_or_foreign_origin() -> None:
    html = resources.files("legal_edge.web").joinpath("static", "index.html").read_text("utf-8")
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/main.js">']
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no CDN
    for name in SCRIPTS:
        js = resources.files("legal_edge.web").joinpath("static", name).read_text("utf-8")
        assert "eval(" not in js and "new Function" not in js, name
        assert not re.search(r"https?://", js), name


def test_every_module_the_page_imports_is_served() -> None:
    """An ES module imported but not listed in SCRIPTS would 404 and stop the whole page."""
    static = resources.files("legal_edge.web").joinpath("static")
    imported = {"main.js"}
    for name in SCRIPTS:
        js = static.joinpath(name).read_text("utf-8")
        imported |= set(re.findall(r'^import [^;]* from "\./([\w-]+\.js)";', js, re.M))
    assert imported == set(SCRIPTS)


def test_api_routes_keep_their_headers(c: TestClient) -> None:
    r = c.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    assert "content-security-policy" not in r.headers
    assert c.get("/v1/models").status_code == 401
    assert "content-security-policy" not in c.get("/health/live").headers


def test_unknown_static_names_are_404(c: TestClient) -> None:
    for name in ("index.html", "nope.js", "..%2F__init__.py"):
        assert c.get(f"/static/{name}").status_code == 404
    assert c.get("/favicon.ico").status_code == 204


@pytest.mark.parametrize(
    ("settings", "keeps", "feedback", "key"),
    [
        ({}, False, False, False),
        ({"feedback_db": ":memory:"}, False, True, False),  # the private default: no text
        ({"feedback_db": ":memory:", "response_retention_days": 7.0}, True, True, False),
        ({"api_keys": (KEY,)}, False, False, True),
    ],
)
def test_server_info_says_what_is_kept(
    settings: dict[str, object], keeps: bool, feedback: bool, key: bool
) -> None:
    with client(**settings) as tc:
        r = tc.get("/v1/server-info")  # answers without a key: the page asks before it has one
    assert r.status_code == 200
    assert r.json() == {
        "keeps_conversation_text": keeps,
        "feedback_enabled": feedback,
        "requires_api_key": key,
        "version": __version__,
    }


def test_the_page_ships_in_the_wheel_and_the_binary() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    assert "web/static/*" in pyproject["tool"]["setuptools"]["package-data"]["legal_edge"]
    assert set(STATIC_TYPES) == {
        p.name for p in resources.files("legal_edge.web").joinpath("static").iterdir()
    }
    # the PyInstaller spec collects legal_edge's data files, the page's among them
    spec = (REPO / "build" / "legal-edge.spec").read_text("utf-8")
    assert 'collect_data_files("legal_edge")' in spec
    hooks = pytest.importorskip("PyInstaller.utils.hooks")
    collected = {Path(src).name for src, dest in hooks.collect_data_files("legal_edge")}
    assert set(STATIC_TYPES) <= collected
