"""The recipe drill's tiny trained model (the export tests' fixture)."""

from tests.recipes.export.conftest import tiny_trained  # noqa: F401
