import json

import pytest

from legal_edge.tools.sse import DONE, parse_line


def test_data_lines_decode_and_the_end_marker_is_recognised():
    assert parse_line('data: {"choices": []}') == {"choices": []}
    assert parse_line('data:{"a":1}') == {"a": 1}  # the space after the colon is optional
    assert parse_line("data: [DONE]") == DONE


@pytest.mark.parametrize("line", ["", ": keep-alive comment", "event: ping", "id: 3"])
def test_lines_that_carry_no_data_are_skipped(line):
    assert parse_line(line) is None


@pytest.mark.parametrize("line", ["data: {not json", "data: [1, 2]"])
def test_malformed_events_raise(line):
    with pytest.raises(json.JSONDecodeError):
        parse_line(line)
