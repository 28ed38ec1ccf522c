"""Prompt masking and data checks: what the model is trained to say, and what is refused."""

from __future__ import annotations

import json

import pytest

from legal_edge.prompts import CHATML_TEMPLATE, GEMMA_CHAT_TEMPLATE, render_chat
from recipes.train.data import (
    IGNORE,
    DataError,
    check_record,
    check_template_tokens,
    collate,
    encode,
    load_examples,
    make_batches,
    segments,
)
from tests.fixtures.tiny_hf import legal_records

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tok(tiny):
    from recipes.shared.base_model import load_tokenizer

    return load_tokenizer(tiny.hf_dir)


def test_segments_rebuild_the_rendered_conversation(legal_data):
    rec = next(r for r in legal_records(legal_data) if r.get("messages"))
    msgs = rec["messages"]
    pieces = segments(GEMMA_CHAT_TEMPLATE, msgs)
    assert "".join(t for t, _ in pieces) == render_chat(
        GEMMA_CHAT_TEMPLATE, msgs, add_generation_prompt=False
    )
    answers = [t for t, a in pieces if a]
    assert len(answers) == sum(m["role"] == "assistant" for m in msgs) == 2
    for text, m in zip(answers, [m for m in msgs if m["role"] == "assistant"], strict=True):
        assert text.startswith(m["content"].strip()) and text.rstrip().endswith("<end_of_turn>")
    # every prompt piece ends exactly where the server's generation prompt ends
    assert all(t.endswith("<start_of_turn>model\n") for t, a in pieces if not a)


def test_labels_cover_only_answer_tokens(tok, legal_data):
    rec = legal_records(legal_data)[0]  # an MCQ: answer "答案：X"
    msgs = check_record(rec, "x:1")
    ex, truncated = encode(tok, GEMMA_CHAT_TEMPLATE, msgs, 4096)
    assert not truncated and len(ex.input_ids) == len(ex.labels)
    answer_ids = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE]
    assert tok.decode(answer_ids) == f"{rec['output']}<end_of_turn>\n"
    prompt_ids = ex.input_ids[: ex.labels.index(answer_ids[0])]
    server_prompt = render_chat(GEMMA_CHAT_TEMPLATE, msgs[:1], add_generation_prompt=True)
    assert prompt_ids == tok(server_prompt)["input_ids"]  # BOS + the exact server prompt


def test_multi_turn_trains_every_assistant_turn(tok, legal_data):
    rec = next(r for r in legal_records(legal_data) if r.get("messages"))
    ex, _ = encode(tok, GEMMA_CHAT_TEMPLATE, check_record(rec, "x:1"), 4096)
    runs, inside = 0, False
    for lab in ex.labels:
        if lab != IGNORE and not inside:
            runs += 1
        inside = lab != IGNORE
    assert runs == 2


def test_bad_rows_name_file_and_line(tmp_path, tok):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"train.jsonl:2: not valid JSON"):
        load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 64)
    p.write_text(json.dumps({"question": "q", "options": {"A": "x"}, "answer": "A"}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:1: not a prepared record.*prepare-data"):
        load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 64)
    p.write_text(json.dumps({"messages": [{"role": "robot", "content": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:1: unknown message role 'robot'"):
        load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 64)


def test_truncation_that_removes_the_answer_is_counted(tmp_path, tok):
    p = tmp_path / "train.jsonl"
    rows = [
        {"instruction": "合同" * 50, "output": "答案：A"},
        {"instruction": "问", "output": "答"},
    ]
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    examples, report = load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 32)
    assert report.read == 2 and report.kept == 1 and len(examples) == 1
    assert report.rejected == {"no answer tokens left after truncation to max_seq_len": 1}


def test_records_longer_than_max_len_are_dropped_not_cut_when_asked(tok, tmp_path):
    p = tmp_path / "train.jsonl"
    rows = [
        {"instruction": "问", "output": "这是一个很长的回答。" * 20},
        {"instruction": "问", "output": "答"},
    ]
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    cut, report = load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 48)
    assert report.kept == 2 and report.truncated == 1  # default: trained on cut text
    kept, report = load_examples(p, tok, GEMMA_CHAT_TEMPLATE, 48, drop_truncated=True)
    assert report.kept == 1 and report.truncated == 0 and len(kept) == 1
    assert report.rejected == {"longer than max_seq_len (dropped, not cut)": 1}
    assert len(kept[0].input_ids) < 48


def test_template_tokens_the_tokenizer_lacks_are_reported(tok):
    assert check_template_tokens(tok, GEMMA_CHAT_TEMPLATE) == []
    assert check_template_tokens(tok, CHATML_TEMPLATE) == ["<|im_end|>", "<|im_start|>"]


def test_batches_are_deterministic_and_cover_every_example():
    lengths = [(i * 37) % 101 for i in range(50)]
    a = make_batches(50, lengths, 4, seed=1, epoch=0)
    assert a == make_batches(50, lengths, 4, seed=1, epoch=0)
    assert a != make_batches(50, lengths, 4, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(50))


def test_exam_answer_letters_are_found_and_weighted(tok, legal_data):
    rec = legal_records(legal_data)[0]  # lexeval's first row: answer ABCD
    ex, _ = encode(tok, GEMMA_CHAT_TEMPLATE, check_record(rec, "x:1"), 4096)
    letters = rec["output"].removeprefix("答案：")
    assert ex.letter_positions and tok.decode([ex.input_ids[i] for i in ex.letter_positions]) == (
        letters
    )
    assert all(ex.labels[i] != IGNORE for i in ex.letter_positions)  # answer tokens, trained
    qa = next(r for r in legal_records(legal_data) if r.get("category") != "exam_mcq")
    plain, _ = encode(tok, GEMMA_CHAT_TEMPLATE, check_record(qa, "x:2"), 4096)
    assert plain.letter_positions == []  # a consultation has no exam letters
    batch = collate([ex, plain], pad_id=0, letter_weight=5.0)
    w = batch["weights"]
    assert w[0, ex.letter_positions].tolist() == [5.0] * len(ex.letter_positions)
    assert float(w.sum()) == w.numel() + 4.0 * len(ex.letter_positions)
    assert "weights" not in collate([ex, plain], pad_id=0)  # weight 1: the plain mean
