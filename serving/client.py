"""A small client for the REST API (ours or TensorFlow Serving's: the protocol is the same)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import httpx


class ServingError(RuntimeError):
    """The server answered with an error; `status` is the HTTP code, the message is the server's."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class ServingClient:
    """predict(rows) -> one dict of outputs per row, via POST /v1/models/<name>:predict.

    Example:
        >>> client = ServingClient("http://127.0.0.1:8501", "ctr")
        >>> client.predict([{"item_id": 3, "device": "mobile", ...}])[0]["probability"]
    """

    def __init__(self, url: str = "http://127.0.0.1:8501", name: str = "default", timeout: float = 30.0):
        self.base = f"{url.rstrip('/')}/v1/models/{name}"
        self._http = httpx.Client(timeout=timeout)

    def _check(self, response: httpx.Response) -> Any:
        body = response.json()
        if response.status_code != 200:
            raise ServingError(response.status_code, body.get("error", response.text))
        return body

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
        return self._check(self._http.post(f"{self.base}:predict", json={"instances": list(rows)}))["predictions"]

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, list[float]]:
        return self._check(self._http.post(f"{self.base}:predict", json={"inputs": dict(columns)}))["outputs"]

    def metadata(self) -> dict:
        return self._check(self._http.get(f"{self.base}/metadata"))

    def close(self) -> None:
        self._http.close()
