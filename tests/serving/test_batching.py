"""Requests batched together stay isolated: a bad one fails alone, with its own message; the queue is bounded."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from featureplex.serving.batching import BatchQueue
from featureplex.serving.predictor import RequestError, SavedModelPredictor
from tests.serving.conftest import running_server
from tests.serving.test_server import ROWS

SECRET = "secret-of-client-7"


@pytest.fixture(scope="module")
def batching_server(saved_model, tmp_path_factory):
    """Default limits, a 300 ms batch window: ten requests sent together share one model call."""
    with running_server(saved_model, tmp_path_factory.mktemp("batching") / "log", "--batch-window-ms", "300") as running:
        yield running


def send_together(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: httpx.post(f"{url}/v1/models/default:predict", content=body,
                                                     headers={"content-type": "application/json"}, timeout=60), bodies))


@pytest.mark.parametrize("bad_value, message", [
    (f'"{SECRET}"', f"feature 'price': expected a number, got str '{SECRET}' at row 0"),
    ("NaN", "feature 'item_id': expected an integer within int64, got float nan at row 0"),
])
def test_one_bad_request_in_a_batch_fails_alone(batching_server, saved_model, bad_value, message):
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
    good = [json.dumps({"instances": [ROWS[i % 3]]}).encode() for i in range(9)]
    field = "price" if "secret" in bad_value else "item_id"
    bad = json.dumps({"instances": [{**ROWS[0], field: "@"}]}).replace('"@"', bad_value).encode()
    answers = send_together(batching_server.url, good[:7] + [bad] + good[7:])
    bad_answer = answers.pop(7)
    assert bad_answer.status_code == 400 and bad_answer.json()["error"] == message
    for index, answer in enumerate(answers):
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["probability"] == pytest.approx(expected[index % 3], rel=1e-6)
        assert SECRET not in answer.text


def test_a_history_longer_than_the_default_limit_is_refused(batching_server):
    """Issue 23's request: 100 rows, one with a 100,000-item history: refused before any work."""
    rows = [dict(ROWS[0]) for _ in range(100)]
    rows[50]["history"] = [1] * 100_000
    response = httpx.post(f"{batching_server.url}/v1/models/default:predict", json={"instances": rows}, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"] == ("feature 'history': 100000 items at row 50 is over the limit of 1000 items "
                                        "per sequence (--max-sequence-items)")


def test_past_max_queue_requests_get_503_with_retry_after(saved_model, tmp_path):
    """--max-queue 2: two requests wait for the window, the other four are turned away."""
    with running_server(saved_model, tmp_path / "log", "--max-queue", "2", "--batch-window-ms", "1500") as running:
        answers = send_together(running.url, [json.dumps({"instances": ROWS}).encode()] * 6)
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 200, 503, 503, 503, 503]
        busy = next(answer for answer in answers if answer.status_code == 503)
        assert busy.headers["retry-after"] == "1" and "(--max-queue)" in busy.json()["error"]
        assert busy.headers.get("connection") != "close"  # its unread body is dropped, the connection kept


def test_past_max_queue_rows_requests_get_503(saved_model, tmp_path):
    """--max-queue-rows 6: two 3-row requests wait for the window, the other four would pass 6 rows."""
    with running_server(saved_model, tmp_path / "log", "--max-queue-rows", "6", "--batch-window-ms", "1500") as running:
        answers = send_together(running.url, [json.dumps({"instances": ROWS}).encode()] * 6)
        assert sorted(answer.status_code for answer in answers) == [200, 200, 503, 503, 503, 503]
        busy = next(answer for answer in answers if answer.status_code == 503)
        assert busy.headers["retry-after"] == "1"
        assert busy.json()["error"] == ("server busy: 6 rows waiting for the model, the limit is 6 (--max-queue-rows); "
                                        "retry after 1 s")


def test_once_the_rows_reach_max_queue_rows_a_request_is_refused_before_its_body_is_decoded(saved_model, tmp_path):
    """--max-queue-rows 3: while a 3-row request waits for the window, a body that is not even JSON gets the
    row bound's 503 (it was refused without decoding), on a connection that stays open; once answered, its 400."""
    malformed = b'{"instances": [not json'
    with running_server(saved_model, tmp_path / "log", "--max-queue-rows", "3", "--batch-window-ms", "1500") as running:
        predict = f"{running.url}/v1/models/default:predict"
        with ThreadPoolExecutor(1) as pool, httpx.Client(timeout=60) as client:
            waiting = pool.submit(httpx.post, predict, json={"instances": ROWS}, timeout=60)
            answers = []
            while not waiting.done():
                answers.append(client.post(predict, content=malformed, headers={"content-type": "application/json"}))
                time.sleep(0.02)
            answers.append(client.post(predict, content=malformed, headers={"content-type": "application/json"}))
            assert waiting.result().status_code == 200
        assert {answer.status_code for answer in answers} == {400, 503}
        assert answers[-1].status_code == 400 and "malformed JSON" in answers[-1].json()["error"]
        busy = next(answer for answer in answers if answer.status_code == 503)
        assert busy.headers["retry-after"] == "1" and busy.headers.get("connection") != "close"
        assert busy.json()["error"] == ("server busy: 3 rows waiting for the model, the limit is 3 (--max-queue-rows); "
                                        "retry after 1 s")


class FailingOn(SavedModelPredictor):
    """The real predictor, except that a model call holding item_id 666 fails inside the model."""

    def __init__(self, path: str):
        super().__init__(path)
        self.calls: list[int] = []

    def run(self, request):
        self.calls.append(request.rows)
        if (request.columns["item_id"] == 666).any():
            raise RequestError("request: the model cannot score it (item 666)")
        return super().run(request)


def test_a_failure_inside_a_joined_call_reaches_only_its_request(saved_model):
    predictor = FailingOn(str(saved_model))
    requests = [predictor.encode(predictor.rows_to_columns([{**ROWS[0], "item_id": item}])) for item in (1, 666, 2, 3)]

    async def score_together():
        queue = BatchQueue(predictor, max_rows=64)
        return await asyncio.gather(*(queue.predict(request) for request in requests), return_exceptions=True)

    answers = asyncio.run(score_together())
    assert predictor.calls == [4, 1, 1, 1, 1]  # the joined call, then each request alone
    assert isinstance(answers[1], RequestError) and "item 666" in str(answers[1])
    expected = SavedModelPredictor(str(saved_model)).predict_rows([{**ROWS[0], "item_id": item} for item in (1, 2, 3)])
    np.testing.assert_allclose([answers[i]["probability"][0] for i in (0, 2, 3)], expected["probability"], rtol=1e-6)


def test_a_long_history_does_not_join_short_ones(saved_model):
    """Padding costs rows x the longest sequence of a call: widths 3, 3, 900, 2 give calls [3, 3, 2] and [900]."""
    predictor = FailingOn(str(saved_model))
    widths = [3, 3, 900, 2]
    requests = [predictor.encode(predictor.rows_to_columns([{**ROWS[0], "history": [1] * width}])) for width in widths]

    async def score_together():
        queue = BatchQueue(predictor, max_rows=64)
        return await asyncio.gather(*(queue.predict(request) for request in requests))

    answers = asyncio.run(score_together())
    assert predictor.calls == [3, 1]
    assert all(answer["probability"].shape == (1,) for answer in answers)
