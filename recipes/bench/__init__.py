"""Benchmarks of the offline stages, run as modules
(e.g. ``python -m recipes.bench.prepare_data_bench``)."""
