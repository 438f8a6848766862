"""Generated request bodies against the running server: any JSON, and TF Serving's two formats with
values of every type and size within the limits. Every answer is a 200 with one prediction per row or
a 4xx with a JSON error; the server stays up and its memory does not grow over the run."""

import json
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import LIMITS

FEATURES = ["city", "item_id", "price", "history"]
MAX_ROWS = int(LIMITS["--max-rows"])
MAX_ITEMS = int(LIMITS["--max-sequence-items"])
MAX_CHARS = int(LIMITS["--max-string-chars"])
RSS_GROWTH_BYTES = 48 << 20

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70) | st.floats()
           | st.text(max_size=MAX_CHARS + 5))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=6),
                           max_leaves=40)
# mostly well-typed values, so that requests reach the model, with every other kind mixed in
feature_values = {
    "city": st.text(max_size=MAX_CHARS) | st.none() | json_values,
    "item_id": st.integers(-(2**63), 2**63 - 1) | st.none() | json_values,
    "price": st.floats(width=32) | st.integers(-(2**24), 2**24) | st.none() | json_values,
    "history": st.lists(st.integers(-(2**63), 2**63 - 1) | st.none(), max_size=MAX_ITEMS) | st.none() | json_values,
}
rows = st.fixed_dictionaries({}, optional=feature_values) | st.fixed_dictionaries(feature_values)
instances = st.fixed_dictionaries({"instances": st.lists(rows, min_size=0, max_size=MAX_ROWS) | json_values})
columns = st.integers(1, 8).flatmap(lambda n: st.fixed_dictionaries(
    {"inputs": st.fixed_dictionaries({name: st.lists(values, min_size=n, max_size=n) for name, values in feature_values.items()})
     | json_values}))
bodies = instances | columns | json_values


def rss_bytes(pid: int) -> int:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) * 1024


def test_generated_requests_get_200_or_a_json_4xx_and_memory_stays_flat(server):
    http = httpx.Client(base_url=server.url, timeout=60)
    widest = {"instances": [{"city": "x" * MAX_CHARS, "item_id": 1, "price": 1.0, "history": list(range(MAX_ITEMS))}] * MAX_ROWS}
    for _ in range(20):  # the largest request the limits allow, until the allocators have what they keep
        assert http.post("/v1/models/ctr:predict", json=widest).status_code == 200
    before = rss_bytes(server.process.pid)
    statuses = []

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(bodies)
    def answers_every_body(body):
        response = http.post("/v1/models/ctr:predict", content=json.dumps(body).encode(),
                             headers={"content-type": "application/json"})
        statuses.append(response.status_code)
        assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
        answer = response.json()
        if response.status_code == 200:
            given_rows = len(body["instances"]) if "instances" in body else len(body["inputs"]["city"])
            assert len(answer.get("predictions", answer.get("outputs", {}).get("probability", []))) == given_rows
        else:
            assert isinstance(answer["error"], str) and answer["error"]

    answers_every_body()
    assert server.process.poll() is None
    assert statuses.count(200) >= 3 and statuses.count(400) >= 3  # the run reached the model and the checks
    growth = rss_bytes(server.process.pid) - before
    print(f"{len(statuses)} requests, RSS {before >> 20} MB -> +{growth / (1 << 20):.1f} MB")
    assert growth < RSS_GROWTH_BYTES
    assert "Traceback" not in server.log.read_text()
    http.close()
