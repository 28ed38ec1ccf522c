"""What several stages share, kept once: paths, content keys, the step cache, prompt formats,
manifest sections, JSONL reading, numeric helpers, plots and report rendering.

Import direction: ``legal_edge`` <- ``recipes.shared`` <- the stages (prepare_data, train,
evaluate) <- export <- pipeline. Nothing here imports a stage.
"""
