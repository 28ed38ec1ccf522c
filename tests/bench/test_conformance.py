"""bench/conformance.py's row checks, tested without the peers: against legal-edge on the tiny
GGUF they pass, against a server that ignores the feature (the request loses its parameter on the
way) they fail, and each verdict refuses a wrong answer handed to it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
pytest.importorskip("llama_cpp")

from conformance_checks import ROWS  # noqa: E402
from conformance_rows import (  # noqa: E402
    VERDICT_SCHEMA,
    Target,
    Wrong,
    gguf_tokenizer,
    judge_boost,
    judge_distinct,
    judge_echo,
    judge_stop,
    judge_token_logprobs,
    judge_tool_calls,
    run_row,
    validates,
)

from tests.fixtures.tiny_server import tiny_server  # noqa: E402

CHECKS = dict(ROWS)
# Rows a random-weight model cannot pass whatever the server: json_object leaves its strings
# free, so the random model writes one until max_tokens. echo + logprobs is not served yet.
NOT_ON_TINY = {"response_format json_object", "echo + logprobs"}


@pytest.fixture(scope="module")
def target(tiny_gguf: Path) -> Iterator[Target]:
    tokenize, piece = gguf_tokenizer(tiny_gguf)
    with tiny_server(tiny_gguf) as (url, name, _):
        yield Target(url + "/v1", name, tokenize, piece, timeout=120)


@dataclasses.dataclass(frozen=True)
class Ignoring(Target):
    """The same server as if it ignored one request parameter (the client drops it)."""

    drop: tuple[str, ...] = ()

    def client(self) -> Any:
        c = super().client()
        for resource in (c.chat.completions, c.completions):
            create = resource.create
            resource.create = lambda *a, _c=create, **kw: _c(  # type: ignore[method-assign]
                *a, **{k: v for k, v in kw.items() if k not in self.drop}
            )
        return c


def test_every_row_passes_on_legal_edge(target: Target) -> None:
    outcomes = {row: run_row(check, target) for row, check in ROWS}
    wrong = {n: o for n, o in outcomes.items() if o[0] != "pass" and n not in NOT_ON_TINY}
    assert not wrong, wrong
    assert len(outcomes) == len(ROWS) == 24


@pytest.mark.parametrize(
    "row, dropped",
    [
        ("response_format json_schema strict (validates)", "response_format"),
        ("tools, tool_choice named", "tool_choice"),
        ("logprobs + top_logprobs, chat", "logprobs,top_logprobs"),
        ("logit_bias (ban and boost hold)", "logit_bias"),
        ("n=3 distinct choices", "n"),
        ("echo (completions)", "echo"),
        ("seed determinism", "seed"),
        ("stop strings", "stop"),
        ("usage in stream (include_usage)", "stream_options"),
    ],
)
def test_a_row_fails_when_the_server_ignores_its_feature(
    target: Target, row: str, dropped: str
) -> None:
    fn = CHECKS[row]
    ignoring = Ignoring(**dataclasses.asdict(target), drop=tuple(dropped.split(",")))
    assert run_row(fn, target)[0] == "pass"
    kind, note = run_row(fn, ignoring)
    assert kind == "fail", (kind, note)


def test_verdicts_refuse_wrong_answers() -> None:
    ok = '{"law": "刑法", "article": 264, "guilty": true}'
    assert validates(VERDICT_SCHEMA, ok)["article"] == 264
    for bad in ['{"law": "刑法", "article": 264}', ok[:-1], ok.replace("刑法", "宪法"),
                ok.replace("}", ', "x": 1}')]:  # fmt: skip
        with pytest.raises(Wrong):
            validates(VERDICT_SCHEMA, bad)
    call = {"function": {"name": "court_fee", "arguments": '{"amount_yuan": 5}'}}
    assert judge_tool_calls([call], "tool_calls", "court_fee") == "called court_fee"
    for calls, finish, name in [
        ([call], "tool_calls", "lookup_article"),
        ([call], "stop", None),
        (
            [{"function": {"name": "court_fee", "arguments": '{"amount_yuan": "5"}'}}],
            "tool_calls",
            None,
        ),
        ([{"function": {"name": "delete_case", "arguments": "{}"}}], "tool_calls", None),
        ([], "tool_calls", None),
    ]:
        with pytest.raises(Wrong):
            judge_tool_calls(calls, finish, name)
    tops = [[("a", -0.1), ("b", -2.0)], [("c", -0.5), ("d", -1.0)]]
    assert judge_token_logprobs(["a", "c"], [-0.1, -0.5], tops, "ac")
    for tokens, lps, text in [
        (["a", "e"], [-0.1, -1.0], "ae"),  # the token is not in its own position's list
        (["a", "c"], [-0.1, -1.0], "ac"),  # its logprob is not the list's
        (["a", "c"], [-0.1, -0.5], "acx"),  # tokens do not spell the text
        (["a", "c"], [0.3, -0.5], "ac"),  # a probability above 1
        ([], [], ""),
    ]:
        with pytest.raises(Wrong):
            judge_token_logprobs(tokens, lps, tops[: len(tokens)], text)
    assert judge_stop("第一条规定", "规定", "第一条", "stop")
    for cut, finish in [("第一条规定", "stop"), ("第一", "stop"), ("第一条", "length")]:
        with pytest.raises(Wrong):
            judge_stop("第一条规定", "规定", cut, finish)
    assert judge_distinct(["a", "b", "c"], 3)
    for texts in (["a", "a", "b"], ["a", "b"]):
        with pytest.raises(Wrong):
            judge_distinct(texts, 3)
    assert judge_boost("法法法", "法", 3)
    for text in ("法法律", "法法", ""):
        with pytest.raises(Wrong):
            judge_boost(text, "法", 3)
    assert judge_echo("第一条", "第一条规定")
    for text in ("规定", "第一条"):
        with pytest.raises(Wrong):
            judge_echo("第一条", text)


def test_help_lists_the_peers_and_the_model() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "conformance.py"), "--help"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for option in ("--model", "--llama-server", "--llcpp-python", "--servers", "--json-out"):
        assert option in out.stdout
