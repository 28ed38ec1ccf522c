"""legal-edge's offline workshop: data preparation, training, evaluation and export stages.

Each stage is a module exposing ``Config`` (a frozen dataclass) and ``run(cfg) -> Path``.
Recipes may import ``legal_edge``; ``legal_edge`` never imports ``recipes``.
"""
