"""Prompt formats that training data and evaluation must agree on, word for word.

Multiple-choice questions are asked with ``MCQ_SINGLE``/``MCQ_MULTI`` as the instruction and the
options as ``A. ...`` lines; the answer starts with ``ANSWER_PREFIX`` and the letter(s), which is
where evaluation reads them. Harmful requests get a deterministic refusal that names why.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

MCQ_SINGLE = "以下是法律考试的单项选择题，请选出唯一正确的答案。"
MCQ_MULTI = "以下是法律考试的不定项选择题，可能有一个或多个正确答案，请选出全部正确答案。"
ANSWER_PREFIX = "答案："


def mcq_prompt(question: str, options: Mapping[str, str], multi: bool) -> tuple[str, str]:
    """(instruction, input) for a multiple-choice question with options A-D (or more)."""
    lines = [question.strip(), ""] + [f"{k}. {str(v).strip()}" for k, v in sorted(options.items())]
    return (MCQ_MULTI if multi else MCQ_SINGLE), "\n".join(lines)


def mcq_answer(answer: str, explanation: str = "") -> str:
    """The target: starts with ``答案：`` and the letter(s), then the explanation if any."""
    out = f"{ANSWER_PREFIX}{answer}"
    return f"{out}\n解析：{explanation.strip()}" if explanation.strip() else out


REFUSAL_REASONS = {
    "违法犯罪": "这一请求涉及违法犯罪活动，提供帮助可能造成实际危害，也可能使您承担法律责任。",
    "侵害权益": "这一请求可能侵害他人的合法权益{sub}，我不能提供帮助。",
    "侵犯权益": "这一请求可能侵犯他人的合法权益{sub}，我不能提供帮助。",
    "歧视偏见": "这一请求包含歧视或偏见的内容，我不会参与或强化这类观点。",
}
REFUSAL_OPENINGS = (
    "抱歉，我不能协助这个请求。",
    "对不起，这个请求我无法提供帮助。",
    "很抱歉，我不能按您的要求提供这方面的内容。",
)
REFUSAL_CLOSINGS = (
    "如果您遇到了相关的法律问题，建议咨询专业律师或向公安机关、有关部门求助。",
    "如果您想了解相关的法律规定或如何依法维护自身权益，我很乐意为您解答。",
    "如有合法的需求，欢迎换一种方式提问，我会尽力依法提供帮助。",
)


EN_REFUSALS = (
    "I can't help with that request: it could facilitate harm or break the law. "
    "If you are facing a legal problem, a qualified lawyer or the police can help.",
    "Sorry, I won't assist with this, because it could hurt someone or be unlawful. "
    "I'm glad to explain the relevant law or how to protect your rights instead.",
)


def refusal_text(prompt: str, category: str = "", subcategory: str = "") -> str:
    """A deterministic refusal that names why, varied by the prompt's hash (no LLM).

    English prompts get an English refusal; everything else a Chinese one.
    """
    h = int(hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:8], 16)
    if not re.search(r"[\u4e00-\u9fff]", prompt):
        return EN_REFUSALS[h % len(EN_REFUSALS)]
    sub = f"（{subcategory}）" if subcategory else ""
    reason = REFUSAL_REASONS.get(category, "这一请求可能带来法律风险或伤害他人{sub}。").format(
        sub=sub
    )
    return REFUSAL_OPENINGS[h % 3] + reason + REFUSAL_CLOSINGS[(h // 3) % 3]
