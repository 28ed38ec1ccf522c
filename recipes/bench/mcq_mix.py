"""What a training mix teaches about exam answers: single- vs multi-answer records, their answer
letters, and how much of the loss the answer letter gets.

``python -m recipes.bench.mcq_mix --data runs/data/legal_zh_mix --max-len 256 --out FILE.json``

For each prepared ``train.jsonl``: the exam records (answers ``答案：X``) split by the prompt
they are asked with (``MCQ_SINGLE`` / ``MCQ_MULTI``) and by the answer's shape (one letter or
several), the distribution of answer strings, and, over the records the trainer keeps at
``--max-len`` (``recipes.train.data.encode``, the same rendering and masking as training,
tokenized by the base GGUF's own vocabulary through llama.cpp, the ids training uses), the
answer tokens per category and the share of all answer tokens that are answer letters: the
answer-only loss is a mean over answer tokens, so that share is the letters' weight in the
gradient of an average batch.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import click

from legal_edge.fileio import atomic_write_json
from legal_edge.models.manifest import resolve_model
from recipes.shared.jsonl import read_jsonl
from recipes.shared.prompt_formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE

_LETTERS = re.compile(rf"^{ANSWER_PREFIX}([A-H]+)")


class GGUFTokenizer:
    """The call shape ``recipes.train.data.encode`` uses, over llama.cpp's vocabulary."""

    def __init__(self, gguf: Path) -> None:
        from legal_edge.backends.llamacpp.cpu_mode import open_llama

        self.llm = open_llama(str(gguf), vocab_only=True, verbose=False)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)
        return {"input_ids": ids}


def exam_answer(rec: dict[str, Any]) -> str | None:
    """The letters of an exam record's answer (``答案：AD`` -> ``AD``), or None."""
    m = _LETTERS.match(str(rec.get("output", "")).strip())
    return m.group(1) if m else None


def asked_as(rec: dict[str, Any]) -> str:
    instruction = str(rec.get("instruction", ""))
    if instruction.startswith(MCQ_SINGLE):
        return "single_prompt"
    if instruction.startswith(MCQ_MULTI):
        return "multi_prompt"
    return "other_prompt"


def letter_stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Exam records by prompt and by answer shape; answer strings and single letters."""
    exams = [(r, a) for r in records if (a := exam_answer(r)) is not None]
    by = Counter((asked_as(r), "one_letter" if len(a) == 1 else "several") for r, a in exams)
    answers = Counter(a for _, a in exams)
    singles = Counter(a for _, a in exams if len(a) == 1)
    return {
        "records": len(records),
        "exam_records": len(exams),
        "exam_share": round(len(exams) / max(len(records), 1), 4),
        "by_prompt_and_answer": {f"{p}/{s}": n for (p, s), n in sorted(by.items())},
        "multi_answer_share": round(sum(len(a) > 1 for _, a in exams) / max(len(exams), 1), 4),
        "answer_strings_top": answers.most_common(15),
        "single_letters": dict(sorted(singles.items())),
        "letters_in_all_answers": dict(sorted(Counter("".join(a for _, a in exams)).items())),
        "by_category": dict(Counter(str(r.get("category", "")) for r in records).most_common()),
    }


def token_stats(
    records: list[dict[str, Any]], tokenizer: Any, template: str, max_len: int, drop: bool
) -> dict[str, Any]:
    """Answer tokens per category over the records training keeps, and the letters' share."""
    from legal_edge.prompts import record_to_messages
    from recipes.train.data import encode

    per_cat: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    letters = 0
    dropped = 0
    for rec in records:
        ex, truncated = encode(tokenizer, template, record_to_messages(rec), max_len)
        if ex.n_answer == 0 or (truncated and drop):
            dropped += 1
            continue
        cat = str(rec.get("category", ""))
        per_cat[cat] += ex.n_answer
        kept[cat] += 1
        ans = exam_answer(rec)
        if ans is not None:
            # the letters' own tokens: "答案：" + letters minus "答案：" alone
            with_letters = len(
                tokenizer(ANSWER_PREFIX + ans, add_special_tokens=False)["input_ids"]
            )
            prefix = len(tokenizer(ANSWER_PREFIX, add_special_tokens=False)["input_ids"])
            letters += with_letters - prefix
    total = sum(per_cat.values())
    return {
        "max_len": max_len,
        "drop_truncated": drop,
        "kept_records": sum(kept.values()),
        "dropped_records": dropped,
        "answer_tokens": total,
        "answer_tokens_by_category": dict(per_cat.most_common()),
        "mean_answer_tokens_by_category": {
            c: round(per_cat[c] / kept[c], 1) for c, _ in per_cat.most_common()
        },
        "letter_tokens": letters,
        "letter_share_of_loss": round(letters / max(total, 1), 4),
    }


@click.command()
@click.option("--data", type=click.Path(path_type=Path), required=True, help="prepare-data output")
@click.option("--base", type=click.Path(path_type=Path), default=Path("models/gemma3-270m"))
@click.option("--max-len", type=int, default=256, help="the training config's max_seq_len")
@click.option("--drop-truncated", is_flag=True, help="the training config's drop_truncated")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="write JSON here")
def main(data: Path, base: Path, max_len: int, drop_truncated: bool, out: Path | None) -> None:
    """Single- vs multi-answer exam records, their letters, and the letters' share of the loss."""
    records = [rec for _, rec in read_jsonl(data / "train.jsonl")]
    manifest = resolve_model(str(base), Path("models"))
    result = {
        "data": str(data),
        **letter_stats(records),
        "tokens": token_stats(
            records, GGUFTokenizer(manifest.model_path), manifest.chat_template, max_len,
            drop_truncated,
        ),
    }  # fmt: skip
    if out is not None:
        atomic_write_json(out, result)
    click.echo(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
