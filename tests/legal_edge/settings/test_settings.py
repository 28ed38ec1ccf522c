"""The operations settings load from YAML/env and bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.settings.loader import ConfigError
from legal_edge.settings.server import load_settings


def test_operations_keys_from_yaml_and_env(tmp_path):
    cfg = tmp_path / "legal-edge.yaml"
    cfg.write_text(
        "feedback_db: /var/lib/legal-edge/fb.db\nresponse_retention_days: 0\n"
        "ab_model: legal-v2\nab_split: 0.1\n",
        encoding="utf-8",
    )
    s = load_settings(cfg, environ={"LEGAL_EDGE_AB_HEADER": "x-lawyer"})
    assert s.feedback_db == Path("/var/lib/legal-edge/fb.db")
    assert s.response_retention_days == 0 and s.ab_model == "legal-v2"
    assert s.ab_split == 0.1 and s.ab_header == "x-lawyer"


@pytest.mark.parametrize(
    ("key", "value"),
    [("ab_split", "1.5"), ("response_retention_days", "-1"), ("request_log_days", "-2")],
)
def test_bad_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        load_settings(None, environ={f"LEGAL_EDGE_{key.upper()}": value})
