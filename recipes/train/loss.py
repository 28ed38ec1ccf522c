"""Causal-LM loss computed only where it is needed.

The plain Hugging Face loss projects every position onto the vocabulary (262,144 columns for
Gemma) and then throws away the prompt positions. Here the model body gives hidden states, and
the ``lm_head`` runs only on the positions whose next token is an answer token: on CPU this is the
largest single saving of a LoRA step. ``plain_loss`` is the reference the benchmark compares with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import IGNORE


def _causal_lm(model):
    """The ``*ForCausalLM`` module under PEFT / DDP / DeepSpeed wrappers."""
    m = model
    for _ in range(4):
        if (
            hasattr(m, "get_output_embeddings")
            and m.get_output_embeddings() is not None
            and hasattr(m, "get_decoder")
        ):
            if type(m).__name__.startswith("Peft"):
                m = m.get_base_model()
                continue
            return m
        m = getattr(m, "module", None) or m.get_base_model()
    raise TypeError(f"cannot find the causal LM inside {type(model).__name__}")


def answer_only_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over answer tokens; returns ``(loss, n_answer_tokens)``.

    With ``weights`` in the batch (``collate``'s ``letter_weight``), a weighted mean: an exam
    answer's letter is one token against hundreds in a consultation answer, and a plain mean
    gives it almost no say in the gradient (docs/measurements/2026-12-07-fixed-answer.md)."""
    lm = _causal_lm(model)
    body = lm.get_decoder()
    hidden = body(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    picked = hidden[:, :-1][keep]  # (n_answer, hidden)
    logits = lm.get_output_embeddings()(picked)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    if "weights" not in batch:
        return F.cross_entropy(logits.float(), targets[keep]), int(keep.sum())
    # the weight of position t + 1's token sits at t + 1, like its label
    w = batch["weights"][:, 1:][keep].to(logits.device)
    per_token = F.cross_entropy(logits.float(), targets[keep], reduction="none")
    return (per_token * w).sum() / w.sum(), int(keep.sum())


def plain_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """The Hugging Face loss (full-vocabulary logits at every position), for comparison."""
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        use_cache=False,
    )
    return out.loss, int((batch["labels"][:, 1:] != IGNORE).sum())


LOSSES = {"answer_only": answer_only_loss, "plain": plain_loss}
