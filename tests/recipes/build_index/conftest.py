from tests.fixtures.china_law_db import china_law_db  # noqa: F401
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
