"""The citation grammar as llama.cpp enforces it, token by token, on the real Gemma vocabulary:
free text passes, ``《`` starts only a given heading, a heading cannot run on into ``之``."""

from __future__ import annotations

import ctypes
from pathlib import Path

import llama_cpp
import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.backends.llamacpp.sampling import grammar_sampler
from legal_edge.statutes.cite_grammar import citation_grammar

GIVEN = ["《中华人民共和国刑法》第一百三十三条", "《中华人民共和国刑法》第三百三十四条"]


@pytest.fixture(scope="module")
def llm(default_base_gguf: Path):
    return open_llama(default_base_gguf, vocab_only=True, verbose=False)


def accepts(llm, grammar: str, text: str) -> bool:
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    sampler = grammar_sampler(vocab, grammar)
    try:
        for token in llm.tokenize(text.encode(), add_bos=False, special=False):
            one = llama_cpp.llama_token_data(id=token, logit=0.0, p=0.0)
            single = llama_cpp.llama_token_data_array(
                data=ctypes.pointer(one), size=1, selected=-1, sorted=False
            )
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(single))
            if single.data[0].logit == float("-inf"):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.mark.slow
def test_only_given_headings_follow_an_opening_bracket(llm) -> None:
    g = citation_grammar(GIVEN)
    assert accepts(
        llm, g, "根据《中华人民共和国刑法》第一百三十三条规定，醉酒驾驶机动车的，处拘役。"
    )
    assert accepts(
        llm, g, "见《中华人民共和国刑法》第三百三十四条和《中华人民共和国刑法》第一百三十三条"
    )
    assert not accepts(llm, g, "根据《中华人民共和国刑法》第二百三十三条")  # not given
    assert not accepts(llm, g, "根据《中华人民共和国刑法》第一百三十三条之一")  # runs on: 之一
    assert not accepts(llm, g, "《刑法》第一百三十三条")  # the heading exactly as given
    assert not accepts(llm, g, "《红楼梦》里")
    # a law whose title holds brackets of its own is a literal like any other
    inner = "《最高人民法院关于适用《中华人民共和国民事诉讼法》的解释》第一条"
    assert accepts(llm, citation_grammar([inner]), f"依照{inner}，")


def test_a_grammar_needs_headings() -> None:
    with pytest.raises(ValueError, match="no headings"):
        citation_grammar([])
    with pytest.raises(ValueError, match="not a heading"):
        citation_grammar(["刑法第264条"])
