"""One content key for every "same input?" decision."""

from __future__ import annotations

from pathlib import Path

from recipes.shared.keys import content_key


def test_key_ignores_dict_order_and_sees_every_value():
    a = content_key({"cfg": {"lr": 1e-4, "r": 8}, "data": Path("x/train.jsonl")})
    assert a == content_key({"data": "x/train.jsonl", "cfg": {"r": 8, "lr": 1e-4}})
    assert a != content_key({"cfg": {"lr": 2e-4, "r": 8}, "data": "x/train.jsonl"})
    assert len(a) == 16 and int(a, 16) >= 0
