"""The one result schema: every job's result.json carries the envelope, and a reader names the
file and the field at fault."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.research.results import SCHEMA, dumps, envelope, read_result, write_result


def test_a_job_result_round_trips_with_plain_json_values(tmp_path: Path) -> None:
    content = envelope("montecarlo", {"paths": 10, "seed": np.int64(3)},
                       {"p5": np.float64(-0.1), "ruin": float("nan")}, ["report.html"],
                       paths={"final": np.array([1.0, 2.0])})
    write_result(tmp_path, content)
    back = read_result(tmp_path, kind="montecarlo")
    assert back == json.loads(dumps(content))
    assert back["inputs"]["seed"] == 3 and back["summary"]["ruin"] is None
    assert back["paths"] == {"final": [1.0, 2.0]}
    # the same content gives the same bytes
    assert (tmp_path / "result.json").read_text() == dumps(content)


def test_an_unknown_kind_or_a_section_over_the_envelope_is_refused() -> None:
    with pytest.raises(ValueError, match="result kind 'optimise'"):
        envelope("optimise", {}, {})
    with pytest.raises(ValueError, match="overwrite the envelope"):
        envelope("sweep", {}, {}, schema="mine")


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "expected a JSON object"),
    ('{"kind": "sweep"}', "field 'schema' is missing"),
    ('{"schema": "raytrader.result/0", "kind": "sweep"}', "field 'schema' is 'raytrader.result/0'"),
    (json.dumps({"schema": SCHEMA, "kind": "sweep", "inputs": {}, "summary": {}}),
     "field 'files' is missing"),
    (json.dumps({"schema": SCHEMA, "kind": "lottery", "inputs": {}, "summary": {},
                 "files": []}), "field 'kind' is 'lottery'"),
    (json.dumps({"schema": SCHEMA, "kind": "sweep", "inputs": [], "summary": {},
                 "files": []}), "field 'inputs' must be a JSON object"),
    ('{"schema": ', "line 1: not JSON"),
])
def test_a_bad_result_file_is_named_with_its_field(tmp_path: Path, content: str,
                                                   message: str) -> None:
    (tmp_path / "result.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_result(tmp_path)
    assert str(tmp_path / "result.json") in str(info.value)


def test_a_result_of_another_kind_or_no_result_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such result file"):
        read_result(tmp_path)
    write_result(tmp_path, envelope("stress", {}, {}))
    with pytest.raises(ConfigError, match="field 'kind' is 'stress', expected 'sweep'"):
        read_result(tmp_path, kind="sweep")
