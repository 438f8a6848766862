"""A TensorFlow-Serving-compatible REST server over a SavedModel.

Endpoints (TF Serving's REST API, so a client can move to TF Serving unchanged):
- POST /v1/models/<name>:predict with {"instances": [row, ...]} (row format) -> {"predictions": [...]}
  or {"inputs": {feature: [values]}} (columnar) -> {"outputs": {output: [values]}};
- GET /v1/models/<name> (version status), GET /v1/models/<name>/metadata (the signature);
- GET /healthz.
Errors are JSON {"error": "..."} naming the field: 400 bad request, 404 unknown model, 413 too large.
Requests that arrive within `batch_window_ms` of each other are answered by one model call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.predictor import RequestError, SavedModelPredictor

DEFAULT_MAX_BODY_BYTES = 16 << 20


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class MicroBatcher:
    """Concatenates the columns of requests that arrive within one window and splits the outputs back."""

    def __init__(self, predictor: SavedModelPredictor, window_seconds: float):
        self._predictor = predictor
        self._window = window_seconds
        self._pending: list[tuple[dict, int, asyncio.Future]] = []
        self._flush: asyncio.Task | None = None

    async def predict(self, columns: dict, rows: int) -> dict[str, np.ndarray]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((columns, rows, future))
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_after_window())
        return await future

    async def _flush_after_window(self) -> None:
        await asyncio.sleep(self._window)
        batch, self._pending, self._flush = self._pending, [], None
        merged = {name: [v for columns, _, _ in batch for v in columns[name]] for name in batch[0][0]}
        try:
            outputs = await run_in_threadpool(self._predictor.predict_columns, merged)
        except Exception as error:  # every waiting request learns what went wrong
            for _, _, future in batch:
                future.set_exception(error)
            return
        start = 0
        for _, rows, future in batch:
            future.set_result({name: values[start : start + rows] for name, values in outputs.items()})
            start += rows


def create_app(predictor: SavedModelPredictor, name: str = "default", max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               batch_window_ms: float = 0.0) -> FastAPI:
    app = FastAPI(title="featureplex serving", docs_url=None, redoc_url=None)
    batcher = MicroBatcher(predictor, batch_window_ms / 1000) if batch_window_ms > 0 else None

    def known(model_name: str) -> bool:
        return model_name == name

    def not_found(model_name: str) -> JSONResponse:
        return _error(404, f"model '{model_name}': not found (this server serves '{name}')")

    @app.get("/healthz")
    async def health() -> dict:
        return {"status": "ok", "model": name}

    @app.get("/v1/models/{model_name}")
    async def status(model_name: str):
        if not known(model_name):
            return not_found(model_name)
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    @app.get("/v1/models/{model_name}/metadata")
    async def metadata(model_name: str):
        if not known(model_name):
            return not_found(model_name)
        inputs = {
            spec.name: {"dtype": f"DT_{spec.dtype.name.upper()}", "name": spec.name,
                        "tensor_shape": {"dim": [{"size": "-1"}] * (2 if spec.sequence else 1)}}
            for spec in predictor.inputs.values()
        }
        outputs = {out: {"dtype": "DT_FLOAT", "name": out, "tensor_shape": {"dim": [{"size": "-1"}]}}
                   for out in predictor.outputs}
        signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return {"model_spec": {"name": name, "signature_name": "", "version": "1"},
                "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}

    @app.post("/v1/models/{model_name}:predict")
    async def predict(model_name: str, request: Request):
        if not known(model_name):
            return not_found(model_name)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _error(413, f"request body: {declared} bytes is over the limit of {max_body_bytes}")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return _error(413, f"request body: over the limit of {max_body_bytes} bytes")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(400, f"request body: malformed JSON ({error})")
        try:
            columns, row_format = _parse(predictor, payload)
            rows = predictor.check_columns(columns)
            if batcher is not None:
                outputs = await batcher.predict(columns, rows)
            else:
                outputs = await run_in_threadpool(predictor.predict_columns, columns)
        except RequestError as error:
            return _error(400, str(error))
        if row_format:
            names = sorted(outputs)
            return {"predictions": [dict(zip(names, map(float, values))) for values in zip(*(outputs[n] for n in names))]}
        return {"outputs": {name: values.astype(float).tolist() for name, values in outputs.items()}}

    return app


def _parse(predictor: SavedModelPredictor, payload: Any) -> tuple[dict, bool]:
    if not isinstance(payload, dict):
        raise RequestError("request body: expected a JSON object with 'instances' or 'inputs'")
    signature = payload.get("signature_name", "serving_default")
    if signature != "serving_default":
        raise RequestError(f"signature_name: '{signature}' is not served (only 'serving_default')")
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError("request body: give exactly one of 'instances' (rows) or 'inputs' (columns)")
    if "instances" in payload:
        return predictor.rows_to_columns(payload["instances"]), True
    return payload["inputs"], False


def serve(model_path: str, host: str = "127.0.0.1", port: int = 8501, name: str = "default",
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, batch_window_ms: float = 0.0) -> None:
    """Run the server until SIGINT / SIGTERM: in-flight requests finish, then it exits 0."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        # uvicorn re-raises the signal after shutting down; a requested stop is a clean exit here.
        @contextlib.contextmanager
        def capture_signals(self):
            stop = lambda *_: setattr(self, "should_exit", True)  # noqa: E731
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    app = create_app(SavedModelPredictor(model_path), name, max_body_bytes, batch_window_ms)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
    GracefulServer(config).run()
