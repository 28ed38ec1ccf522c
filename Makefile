# Developer shortcuts. `make check` runs the linters and type checker the project holds itself to.
PY := .venv/bin

.PHONY: check lint format test
check: lint
	$(PY)/mypy legal_edge

lint:
	$(PY)/ruff check legal_edge recipes tests
	$(PY)/ruff format --check legal_edge recipes tests

format:
	$(PY)/ruff format legal_edge recipes tests
	$(PY)/ruff check --fix legal_edge recipes tests

test:
	$(PY)/python -m pytest
