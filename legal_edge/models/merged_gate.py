"""The quality gate of a merged build: does it predict what the run-time adapter form predicts?

Both forms read the same fixed Chinese legal texts (``GATE_TEXTS``, part of the package, so the
verdict does not depend on any data directory); at every position the merged model's
next-token distribution is compared with the adapter form's (base GGUF + LoRA GGUF, what
``serve`` loads without a merged build): mean KL(adapter || merged) and the share of positions
where both put the same token first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from legal_edge.fileio import captured_stderr

# The served adapter form is the reference. Measured on the shipped model against an F16 merge
# (README, compression table): the adapter form KL 0.010 / top-1 0.956, Q8_0 0.006 / 0.961,
# Q5_K_M 0.052 / 0.874, Q4_K_M 0.18 / 0.79. The merged Q8_0 against the adapter form adds the
# two roundings: KL 0.016, top-1 0.907 over the 300 positions here (2026-11-30). So the KL
# ceiling keeps 3x headroom and still refuses a 5-bit-like loss, a LoRA merged at the wrong
# scale or onto the wrong base; top-1 over 300 positions has a standard error of ~0.017, so its
# floor sits 3 of those below the measurement, above what Q4_K_M loses.
MAX_KL = 0.05  # mean KL(adapter form || merged) per position, nats
MIN_TOP1 = 0.85  # share of positions whose most likely next token is the same
MAX_TOKENS_PER_TEXT = 256  # a text is cut here (a tiny test vocabulary spells Chinese in bytes)

# Fixed texts in the register the model serves: statute-style rules, a judgment, a consultation.
# 300 tokens with Gemma's tokenizer.
GATE_TEXTS = (
    "依照合同法律制度，当事人订立合同应当遵循公平原则确定各方的权利和义务。一方迟延履行主要"
    "债务，经催告后在合理期限内仍未履行的，对方可以解除合同，并有权要求赔偿因此造成的损失。"
    "约定的违约金过分高于实际损失的，人民法院可以根据当事人的请求予以适当减少。",
    "本院经审理查明：原告与被告于二〇二一年三月签订房屋租赁合同，约定月租金四千元，按季度"
    "支付。被告自二〇二二年七月起未再支付租金，原告多次催要未果。本院认为，被告未按约定支付"
    "租金，已构成违约，原告要求解除合同、腾退房屋并支付欠付租金的诉讼请求，于法有据，本院予以支持。",
    "问：公司在试用期内以不符合录用条件为由辞退我，但从未告诉我录用条件是什么，这样合法吗？"
    "答：用人单位以试用期不符合录用条件解除劳动合同，应当对录用条件已经事先告知劳动者、劳动者"
    "确实不符合该条件承担举证责任。若单位无法证明，则可能构成违法解除，劳动者可以要求继续履行"
    "合同或者主张赔偿金，并可先向劳动争议仲裁委员会申请仲裁。",
)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    kl_mean: float
    kl_p99: float
    top1_agreement: float
    positions: int
    texts: int
    max_kl: float
    min_top1: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"quality gate {verdict}: mean KL {self.kl_mean:.4f} (max {self.max_kl}), top-1 "
            f"agreement {self.top1_agreement:.3f} (min {self.min_top1}) over {self.positions} "
            f"positions of {self.texts} legal texts, against the adapter form"
        )


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _open(model: Path, lora: Path | None, n_tokens: int) -> Any:
    from legal_edge.backends.llamacpp.cpu_mode import open_llama
    from legal_edge.backends.llamacpp.engine import physical_cores

    threads = physical_cores()
    # llama.cpp reports loading (every key of a LoRA file) on stderr: shown only on failure
    with captured_stderr() as report:
        try:
            if n_tokens == 0:
                return open_llama(model, vocab_only=True)
            return open_llama(
                model,
                lora_path=str(lora) if lora else None,
                n_ctx=n_tokens + 8,
                n_batch=n_tokens + 8,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=True,
            )
        except Exception as exc:
            tail = " / ".join(report().strip().splitlines()[-3:])
            raise RuntimeError(f"loading {model} (LoRA {lora}) failed: {exc}: {tail}") from exc


def _logits(llm: Any, tokens: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    return np.asarray(llm.scores[: len(tokens)])


def _compare(ref: np.ndarray, merged: np.ndarray, rows: int = 64) -> tuple[np.ndarray, int]:
    """Per-position KL(ref || merged) and the count of equal argmaxes, ``rows`` at a time (a
    262k-token vocabulary in float64 is 2 MB per position)."""
    kl, agree = [], 0
    for i in range(0, len(ref), rows):
        r, m = log_softmax(ref[i : i + rows]), log_softmax(merged[i : i + rows])
        kl.append((np.exp(r) * (r - m)).sum(axis=-1))
        agree += int((r.argmax(-1) == m.argmax(-1)).sum())
    return np.concatenate(kl), agree


def check_merged(
    merged_gguf: Path,
    base_gguf: Path,
    adapter_gguf: Path,
    *,
    texts: tuple[str, ...] = GATE_TEXTS,
    max_kl: float | None = None,
    min_top1: float | None = None,
) -> GateResult:
    """Compare ``merged_gguf`` with ``base_gguf`` + ``adapter_gguf`` on ``texts``."""
    max_kl = MAX_KL if max_kl is None else max_kl
    min_top1 = MIN_TOP1 if min_top1 is None else min_top1
    vocab = _open(base_gguf, None, 0)
    encoded = [
        vocab.tokenize(t.encode("utf-8"), add_bos=True, special=False)[:MAX_TOKENS_PER_TEXT]
        for t in texts
    ]
    vocab.close()
    # both forms stay loaded and compare one text at a time: each keeps a logits buffer of
    # context x vocabulary (4 bytes each), so the context is the longest text, no more
    n_ctx = max(len(t) for t in encoded)
    kl: list[np.ndarray] = []
    agree = 0
    ref = _open(base_gguf, adapter_gguf, n_ctx)
    try:
        merged = _open(merged_gguf, None, n_ctx)
        try:
            for tokens in encoded:
                k, a = _compare(_logits(ref, tokens), _logits(merged, tokens))
                kl.append(k)
                agree += a
        finally:
            merged.close()
    finally:
        ref.close()
    kls = np.concatenate(kl)
    kl_mean = float(kls.mean())
    top1 = agree / len(kls)
    return GateResult(
        passed=kl_mean <= max_kl and top1 >= min_top1,
        kl_mean=round(kl_mean, 5),
        kl_p99=round(float(np.percentile(kls, 99)), 5),
        top1_agreement=round(top1, 4),
        positions=len(kls),
        texts=len(texts),
        max_kl=max_kl,
        min_top1=min_top1,
    )
