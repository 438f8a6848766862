"""Bad requests, table-driven: (case, request, expected HTTP status, expected part of the error).

Every one is answered with a JSON error naming the field or limit, never a 500; the keep-alive
connection survives it and the server log holds no traceback afterwards. The server runs with tests/serving/conftest.py's LIMITS (1 MB bodies, 64 rows,
100 items per sequence, 200 characters per string).
"""

import json
from dataclasses import dataclass

import httpx
import pytest

ROW = {"city": "paris", "item_id": 3, "price": 9.5, "history": [1, 2, 3]}
PREDICT = "/v1/models/ctr:predict"


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes | None = None
    chunked: bool = False


def post(payload, path: str = PREDICT, chunked: bool = False) -> Req:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Req("POST", path, body, chunked)


def row(**changes) -> dict:
    return {"instances": [{**ROW, **changes}]}


def raw_row(field: str, json_value: str) -> bytes:
    """A one-row request whose `field` is the JSON text `json_value`, exactly as written."""
    text = json.dumps({"instances": [{**ROW, field: "@"}]})
    return text.replace('"@"', json_value).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES = [
    # the body
    ("malformed JSON", post(b"{not json"), 400, "request body: malformed JSON"),
    ("empty body", post(b""), 400, "request body: malformed JSON"),
    ("not UTF-8", post(b'{"instances": [{"city": "\xff"}]}'), 400, "request body: not UTF-8"),
    ("JSON nested 100,000 deep", post(nested(100_000)), 400, "request body: JSON nested too deeply"),
    ("a 5000-digit integer", post(raw_row("item_id", "7" * 5000)), 400, "request body: Exceeds the limit (4300 digits)"),
    ("body over the limit", post({"instances": [ROW], "pad": "x" * 1_100_000}), 413, "over the limit of 1048576 bytes (--max-body-mb)"),
    ("chunked body over the limit", post({"instances": [ROW], "pad": "x" * 1_100_000}, chunked=True), 413, "(--max-body-mb)"),
    ("a list, not an object", post([ROW]), 400, "request body: expected a JSON object with 'instances' or 'inputs'"),
    ("both formats", post({"instances": [ROW], "inputs": {}}), 400, "give exactly one of 'instances'"),
    ("neither format", post({"rows": [ROW]}), 400, "give exactly one of 'instances'"),
    ("another signature", post({"signature_name": "other", "instances": [ROW]}), 400, "signature_name: 'other' is not served"),
    ("a signature that is not a string", post({"signature_name": 100, "instances": [ROW]}), 400, "signature_name: 'int'"),
    # rows and columns
    ("no instances", post({"instances": []}), 400, "instances: expected a non-empty list of objects"),
    ("instances is an object", post({"instances": ROW}), 400, "instances: expected a non-empty list of objects"),
    ("an instance that is not an object", post({"instances": [ROW, 5]}), 400, "instances[1]: expected an object"),
    ("a feature missing from some rows", post({"instances": [ROW, {k: v for k, v in ROW.items() if k != "price"}]}),
     400, "instances[1]: feature 'price' is missing"),
    ("a feature missing from every row", post({"instances": [{k: v for k, v in ROW.items() if k != "price"}]}),
     400, "feature 'price': missing from the request"),
    ("an unknown feature", post(row(colour="red")), 400, "feature 'colour': not an input of this model"),
    ("an unknown feature named by a lone surrogate", post(row(**{"\ud800": 1})), 400, "feature '\\ud800': not an input"),
    ("rows over the limit", post({"instances": [ROW] * 65}), 413, "65 rows is over the limit of 64 rows per request (--max-rows)"),
    ("columns over the limit", post({"inputs": {k: [v] * 65 for k, v in ROW.items()}}), 413, "(--max-rows)"),
    ("columns of unequal lengths", post({"inputs": {"city": ["a"], "item_id": [1, 2], "price": [1.0], "history": [[]]}}),
     400, "every feature needs the same, non-zero number of values"),
    ("a column that is not a list", post({"inputs": {**{k: [v] for k, v in ROW.items()}, "price": 1.0}}),
     400, "feature 'price': expected a list of values (columnar inputs)"),
    ("inputs that are not an object", post({"inputs": [1]}), 400, "inputs: expected an object of feature columns"),
    # values
    ("a string for a float", post(row(price="cheap")), 400, "feature 'price': expected a number, got str 'cheap' at row 0"),
    ("a number for a string", post(row(city=5)), 400, "feature 'city': expected a string, got int 5 at row 0"),
    ("a boolean for an integer", post(row(item_id=True)), 400, "feature 'item_id': expected a number, got bool True"),
    ("an object for an integer", post(row(item_id={"a": 1})), 400, "feature 'item_id': expected a number, got dict of 1"),
    ("NaN for an integer", post(raw_row("item_id", "NaN")), 400, "feature 'item_id': expected an integer within int64, got float nan"),
    ("Infinity for an integer", post(raw_row("item_id", "Infinity")), 400, "feature 'item_id': expected an integer within int64, got float inf"),
    ("-Infinity for an integer", post(raw_row("item_id", "-Infinity")), 400, "got float -inf at row 0"),
    ("1e300 for an integer", post(raw_row("item_id", "1e300")), 400, "feature 'item_id': expected an integer within int64, got float 1e+300"),
    ("2**70 for an integer", post(row(item_id=2**70)), 400, f"feature 'item_id': expected an integer within int64, got int {2**70}"),
    ("2**63 for an integer", post(row(item_id=2**63)), 400, "feature 'item_id': expected an integer within int64"),
    ("2.5 for an integer", post(row(item_id=2.5)), 400, "feature 'item_id': expected an integer within int64, got float 2.5"),
    ("1e300 for a float (inf in float32)", post(raw_row("price", "1e300")), 400, "feature 'price': float 1e+300 at row 0 is not a finite float32"),
    ("Infinity for a float", post(raw_row("price", "Infinity")), 400, "feature 'price': float inf at row 0 is not a finite float32"),
    ("a 400-digit integer for a float", post(raw_row("price", "9" * 400)), 400, "feature 'price': int 9999"),
    ("a lone surrogate in a string", post(row(city="ab\ud800")), 400, "feature 'city': not valid Unicode (a lone surrogate)"),
    ("a string over the limit", post(row(city="x" * 201)), 413, "a string of 201 characters at row 0 is over the limit of 200 characters (--max-string-chars)"),
    ("a history that is not a list", post(row(history=5)), 400, "feature 'history': expected a list, got int 5 at row 0"),
    ("a string in a history", post(row(history=[1, "a"])), 400, "feature 'history': expected a number, got str 'a' at row 0, item 1"),
    ("a list in a history", post(row(history=[[1]])), 400, "feature 'history': expected a number, got list of 1 at row 0, item 0"),
    ("a history nested 500 deep", post(raw_row("history", nested(500).decode())), 400, "feature 'history': expected a number, got list of 1"),
    ("2**70 in a history", post({"instances": [ROW, {**ROW, "history": [1, 2, 2**70]}]}), 400,
     "feature 'history': expected an integer within int64, got int 1180591620717411303424 at row 1, item 2"),
    ("NaN in a history", post(raw_row("history", "[1, NaN]")), 400, "feature 'history': expected an integer within int64, got float nan at row 0, item 1"),
    ("a history over the limit", post(row(history=list(range(101)))), 413,
     "feature 'history': 101 items at row 0 is over the limit of 100 items per sequence (--max-sequence-items)"),
    ("a history of 100,000 items", post(row(history=[1] * 100_000)), 413, "100000 items at row 0 is over the limit"),
    # TF Serving's routes
    ("GET on :predict", Req("GET", PREDICT), 405, "GET /v1/models/ctr:predict: use POST"),
    ("POST on the status", post({"instances": [ROW]}, "/v1/models/ctr"), 405, "POST /v1/models/ctr: use GET"),
    (":classify", post({"examples": [ROW]}, "/v1/models/ctr:classify"), 400,
     "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict"),
    (":regress", post({"examples": [ROW]}, "/v1/models/ctr:regress"), 400,
     "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/predict"),
    ("a version not served", post({"instances": [ROW]}, "/v1/models/ctr/versions/2:predict"), 404,
     "Servable not found for request: Specific(ctr, 2)"),
    ("a huge version", post({"instances": [ROW]}, "/v1/models/ctr/versions/" + "9" * 5000 + ":predict"), 404, "Servable not found"),
    ("a label not served", post({"instances": [ROW]}, "/v1/models/ctr/labels/stable:predict"), 400,
     "Unrecognized servable version label: stable"),
    ("the status of a version not served", Req("GET", "/v1/models/ctr/versions/7"), 404, "Specific(ctr, 7)"),
    ("another model", post({"instances": [ROW]}, "/v1/models/other:predict"), 404, "model 'other': not found (this server serves 'ctr')"),
    ("an unknown endpoint", Req("GET", "/v1/other"), 404, "/v1/other: no such endpoint"),
    ("/openapi.json when not asked for", Req("GET", "/openapi.json"), 404, "GET /openapi.json: Not Found"),
    ("/docs when not asked for", Req("GET", "/docs"), 404, "GET /docs: Not Found"),
]


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def send(http: httpx.Client, request: Req) -> httpx.Response:
    if request.chunked:  # a generator body goes out with Transfer-Encoding: chunked, no Content-Length
        return http.request(request.method, request.path, content=iter([request.body]),
                            headers={"content-type": "application/json"})
    return http.request(request.method, request.path, content=request.body, headers={"content-type": "application/json"})


def client_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


@pytest.mark.parametrize("case, request_, status, message", CASES, ids=[case[0] for case in CASES])
def test_bad_request_is_a_json_error_naming_the_field(server, http, case, request_, status, message):
    response = send(http, request_)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"], response.json()["error"]
    good = http.post(PREDICT, json={"instances": [ROW]})
    assert good.status_code == 200
    assert client_port(good) == client_port(response)  # the same keep-alive connection


def test_the_table_covers_every_status_and_the_log_has_no_traceback(server, http):
    assert len(CASES) >= 30 and {status for *_, status, _ in CASES} == {400, 404, 405, 413}
    for request_ in [case[1] for case in CASES]:
        send(http, request_)
    assert "Traceback" not in server.log.read_text()
