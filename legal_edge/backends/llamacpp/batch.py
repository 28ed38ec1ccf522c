"""A ``llama_batch`` filled a run of tokens at a time through numpy views of its fields.

``llama_batch_init`` gives each token its own little ``seq_id`` array; here they are pointed
into one contiguous array at the start (the originals are put back before the batch is freed),
so a sequence's tokens, positions, sequence ids and logits flags are each one slice assignment
instead of five ctypes stores per token.
"""

from __future__ import annotations

import ctypes

import llama_cpp
import numpy as np


class Batch:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.raw = llama_cpp.llama_batch_init(capacity, 0, 1)
        raw = self.raw
        self.token = np.ctypeslib.as_array(raw.token, (capacity,))
        self.pos = np.ctypeslib.as_array(raw.pos, (capacity,))
        self.logits = np.ctypeslib.as_array(raw.logits, (capacity,))
        np.ctypeslib.as_array(raw.n_seq_id, (capacity,))[:] = 1  # one sequence per token
        self.seq = np.zeros(capacity, dtype=np.int32)
        own = (ctypes.cast(raw.seq_id[i], ctypes.c_void_p).value for i in range(capacity))
        self._own = [p or 0 for p in own]
        seq_p = ctypes.POINTER(llama_cpp.llama_seq_id)
        base = self.seq.ctypes.data
        for i in range(capacity):
            raw.seq_id[i] = ctypes.cast(base + 4 * i, seq_p)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(
        self, tokens: list[int], pos0: int, seq: int, all_logits: bool, last_logits: bool
    ) -> int:
        """Append ``tokens`` of sequence ``seq`` from position ``pos0``, with logits for all of
        them or for the last one; returns the batch index of the last."""
        n, k = self.n, len(tokens)
        if n + k > self.capacity:
            raise ValueError(f"batch of {self.capacity} tokens cannot take {n + k}")
        self.token[n : n + k] = tokens
        self.pos[n : n + k] = np.arange(pos0, pos0 + k, dtype=np.int32)
        self.seq[n : n + k] = seq
        self.logits[n : n + k] = all_logits
        if last_logits:
            self.logits[n + k - 1] = 1
        self.n = n + k
        self.raw.n_tokens = self.n
        return n + k - 1

    def free(self) -> None:
        for i, ptr in enumerate(self._own):  # llama_batch_free frees its own seq_id arrays
            self.raw.seq_id[i] = ctypes.cast(ptr, ctypes.POINTER(llama_cpp.llama_seq_id))
        llama_cpp.llama_batch_free(self.raw)
