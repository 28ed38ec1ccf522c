from tests.fixtures.statute_index import small_statute_index  # noqa: F401
