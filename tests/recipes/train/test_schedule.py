"""The learning-rate schedule: linear warmup to the configured rate, then the configured decay,
and a scheduler restored from a checkpoint continues on the same curve."""

from __future__ import annotations

import math

import pytest

from recipes.train.config import Config
from recipes.train.loop import make_scheduler

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def lrs(schedule: str, steps: int, warmup: int = 4, total: int = 20, state=None) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, Config(lr_schedule=schedule, warmup_steps=warmup), total)
    if state is not None:
        sched.load_state_dict(state)
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_to_zero():
    got = lrs("cosine", 21)
    assert got[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert got[12] == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert got[20] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(got[4:], got[5:], strict=False))


def test_linear_and_constant_after_the_same_warmup():
    assert lrs("linear", 21)[4:21:8] == pytest.approx([1.0, 0.5, 0.0])
    assert lrs("constant", 21)[:6] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert set(lrs("constant", 21)[4:]) == {1.0}


def test_a_restored_scheduler_continues_on_the_same_curve():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, Config(warmup_steps=4), 20)
    for _ in range(7):
        opt.step()
        sched.step()
    assert lrs("cosine", 13, state=sched.state_dict()) == pytest.approx(lrs("cosine", 20)[7:])
