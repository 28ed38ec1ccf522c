"""The tiny trained model fixture of the export tests (its base is the pipeline's base)."""

from tests.recipes.export.conftest import tiny_trained  # noqa: F401
