import json

import pytest

from recipes.evaluate.heldout import heldout


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_items_any_training_set_holds_are_left_out(tmp_path):
    # a pipeline prefixes ids: "jecqa/jecqa/1_2" is the eval row "jecqa/1_2"
    train1 = write(tmp_path / "t1.jsonl", [{"id": "jecqa/jecqa/1_2"}, {"id": "other/9"}])
    train2 = write(tmp_path / "t2.jsonl", [{"id": "jecqa/1_3"}])
    rows = [
        {"id": "jecqa/1_1", "answer": "A"},
        {"id": "jecqa/1_2", "answer": "B"},
        {"id": "jecqa/1_3", "answer": "C"},
        {"id": "jecqa/1_4", "answer": "AD"},
        {"id": "1_2x", "answer": "D"},  # only whole id parts match
    ]
    ev = write(tmp_path / "eval.jsonl", rows)
    keep, dropped = heldout(ev, [train1, train2], single_answer=False)
    assert [r["id"] for r in keep] == ["jecqa/1_1", "jecqa/1_4", "1_2x"] and dropped == 2
    keep, _ = heldout(ev, [train1, train2], single_answer=True)
    assert [r["id"] for r in keep] == ["jecqa/1_1", "1_2x"]


def test_a_row_without_id_names_its_line(tmp_path):
    ev = write(tmp_path / "eval.jsonl", [{"id": "a"}, {"question": "?"}])
    train = write(tmp_path / "t.jsonl", [{"id": "b"}])
    with pytest.raises(ValueError, match=r"eval.jsonl:2: no id"):
        heldout(ev, [train], single_answer=False)


def test_the_command_writes_the_held_out_file(tmp_path):
    from click.testing import CliRunner

    from recipes.cli import main

    train = write(tmp_path / "t.jsonl", [{"id": "src/a"}])
    ev = write(tmp_path / "eval.jsonl", [{"id": "a", "answer": "B"}, {"id": "b", "answer": "C"}])
    out = tmp_path / "held" / "out.jsonl"
    argv = ["build-heldout", "--eval", str(ev), "--train", str(train), "--out", str(out)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()] == ["b"]
    assert json.loads(result.output) == {"out": str(out), "kept": 1, "trained_on": 1}
