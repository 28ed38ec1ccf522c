"""One step cache: a result is reused only while its inputs' key holds and its files exist."""

from __future__ import annotations

from pathlib import Path

from recipes.shared.step_cache import StepCache, step_valid


def test_a_step_reruns_when_its_key_changes_or_its_output_is_gone(tmp_path: Path) -> None:
    out = tmp_path / "merged.gguf"
    calls: list[str] = []

    def step(tag: str):
        def fn() -> dict[str, str]:
            calls.append(tag)
            out.write_text(tag)
            return {"tag": tag}

        return fn

    cache = StepCache(tmp_path / "state.json", log=lambda _: None)
    assert cache.run("merge", "k1", [out], step("a")) == {"tag": "a"}
    # a fresh process reads state.json: same key, file there -> reused, not run
    again = StepCache(tmp_path / "state.json", log=lambda _: None)
    assert again.run("merge", "k1", [out], step("b")) == {"tag": "a"}
    assert calls == ["a"]
    assert again.run("merge", "k2", [out], step("c")) == {"tag": "c"}  # inputs changed
    out.unlink()
    assert again.run("merge", "k2", [out], step("d")) == {"tag": "d"}  # output gone
    assert calls == ["a", "c", "d"]


def test_step_valid_needs_the_key_and_every_output(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_text("1")
    assert step_valid({"key": "k"}, "k", [f])
    assert not step_valid({"key": "k"}, "other", [f])
    assert not step_valid({"key": "k"}, "k", [f, tmp_path / "missing"])
    assert not step_valid(None, "k") and not step_valid({}, "k")
