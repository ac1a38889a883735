import dataclasses
import datetime
import json
import math

import numpy as np
from flask import Flask

from service.json_provider import OrjsonProvider


def _provider(**attrs) -> OrjsonProvider:
    app = Flask(__name__)
    provider = OrjsonProvider(app)
    for name, value in attrs.items():
        setattr(provider, name, value)
    return provider


def test_writes_what_the_standard_library_reads_back_equal():
    value = {"results": [{"name": "Université Laval", "score": 0.1235, "scores": {"semantic": 0.5}}],
             "challenge": {1: 0.25, 2: 0.75}, "none": None, "flag": True, "k": 10}
    text = _provider(sort_keys=False).dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert "Université" in text  # UTF-8, not \u escapes


def test_key_order_kept_or_sorted_as_asked():
    assert _provider(sort_keys=False).dumps({"b": 1, "a": 2}) == '{"b":1,"a":2}'
    assert _provider(sort_keys=True).dumps({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_nan_is_null_and_numpy_numbers_are_numbers():
    text = _provider().dumps({"x": math.nan, "y": np.float32(0.5), "z": np.arange(3), "i": np.int64(7)})
    assert json.loads(text) == {"x": None, "y": 0.5, "z": [0, 1, 2], "i": 7}


def test_dates_and_dataclasses_go_through_flasks_converter():
    @dataclasses.dataclass
    class Point:
        x: int

    moment = datetime.datetime(2026, 11, 24, 12, 30, tzinfo=datetime.timezone.utc)
    text = _provider().dumps({"when": moment, "where": Point(3)})
    assert json.loads(text) == {"when": "Tue, 24 Nov 2026 12:30:00 GMT", "where": {"x": 3}}


def test_what_orjson_cannot_write_falls_back_to_the_standard_library():
    assert json.loads(_provider().dumps({"k": 10**30})) == {"k": 10**30}


def test_the_app_answers_with_it(client):
    response = client.post("/v1/match", json={"text": "recovering cobalt from mine tailings", "k": 3})
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert len(body["results"]) == 3 and body["results"][0]["explanation"]["challenge"]["alignment"]
