"""A TensorFlow-Serving-compatible REST server over a SavedModel.

Endpoints, as TF Serving's REST API routes them (so a client can move to TF Serving unchanged):
- POST /v1/models/NAME[/versions/N | /labels/L]:predict with {"instances": [row, ...]} (row format:
  every row gives every feature, null for missing) -> {"predictions": [...]}, or {"inputs": {feature:
  [values]}} (columnar) -> {"outputs": {output: [values]}}; :classify and :regress answer TF Serving's
  error for a predict signature;
- GET /v1/models/NAME[/versions/N | /labels/L] (version status) and .../metadata (the signature);
- GET /healthz; /openapi.json and /docs only with `openapi=True`.
The served version is `ServerOptions.version` (1, or the registry's version), its labels the registry
alias it was served by. Errors are JSON {"error": "..."}: 400 bad request naming the field, 404
unknown model, version or endpoint, 405 wrong method, 413 over a limit (request_limits.py), 503 with
Retry-After when `max_queue` requests are in progress, or when a request would take the rows waiting
for or in the model past `max_queue_rows`: once the model is saturated, every request or row admitted
beyond that only adds to everyone's latency (Little's law: latency = in progress / throughput).
The request bound answers before the body is read. The row bound holds whatever the request size
(8 requests of 256 rows saturate a model as 2,000 requests of 1 row do not); it answers before the
body is decoded when the rows in progress already reach it (every request has >= 1 row, so any would
pass it; the body is read and dropped, which keeps the connection), else once the body is decoded and
its rows are known. With nothing in progress a request always passes both. No request body gets a
500: every value is checked before the model runs (feature_values.py); an internal error is logged and
answered with a one-line 500 that carries no request data.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import re
import signal
import socket
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from featureplex.features.errors import InputError
from featureplex.serving.batching import BatchQueue
from featureplex.serving.encoded_request import EncodedRequest
from featureplex.serving.feature_values import shown_name
from featureplex.serving.predictor import SavedModelPredictor
from featureplex.serving.request_limits import OverLimit, RequestError, RequestLimits

log = logging.getLogger(__name__)

PREDICTION_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)")
STATUS_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?")
METHOD_NAMES = {"classify": "classification", "regress": "regression"}
# bodies above this are parsed and checked in a worker thread, not on the event loop
THREAD_BODY_BYTES = 256 << 10
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class ServerOptions:
    """What `featureplex serve` was told (its options document each; the defaults are there)."""

    name: str
    limits: RequestLimits
    batch_window_ms: float
    max_queue: int
    max_queue_rows: int | None = None  # None: 2 x limits.rows
    version: int = 1
    labels: dict[str, int] = field(default_factory=dict)
    openapi: bool = False


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """ASCII JSON (a lone surrogate in an echoed name cannot break the encoding); NaN as TF Serving writes it."""
    return Response(json.dumps(content, ensure_ascii=True), status, headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def create_app(predictor: SavedModelPredictor, options: ServerOptions) -> FastAPI:
    app = FastAPI(title="featureplex serving", redoc_url=None, docs_url="/docs" if options.openapi else None,
                  openapi_url="/openapi.json" if options.openapi else None)
    queue = BatchQueue(predictor, options.limits.rows, options.batch_window_ms / 1000)
    in_progress = 0
    rows_in_progress = 0  # decoded rows waiting for or in a model call
    max_queue_rows = options.max_queue_rows or 2 * options.limits.rows

    def unserved(model_name: str, version: str | None, label: str | None) -> Response | None:
        """TF Serving's answers for a model, version or label this server does not serve."""
        if model_name != options.name:
            return error_response(404, f"model '{shown_name(model_name)}': not found "
                                       f"(this server serves '{options.name}')")
        if version is not None and (len(version) > 18 or int(version) != options.version):
            return error_response(404, f"Servable not found for request: Specific({model_name}, {shown_name(version)})")
        if label is not None and label not in options.labels:
            return error_response(400, f"Unrecognized servable version label: {shown_name(label)}")
        return None

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        """Starlette's own answers (an unknown path, a wrong method) in the one error format."""
        return error_response(error.status_code, f"{request.method} {request.url.path}: {error.detail}", error.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal error (logged by the server)")

    @app.get("/healthz")
    async def health() -> Response:
        return json_response({"status": "ok", "model": options.name})

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def tf_serving_api(request: Request, path: str) -> Response:
        route = request.url.path
        if match := PREDICTION_PATH.fullmatch(route):
            if request.method != "POST":
                return error_response(405, f"{request.method} {route}: use POST", {"Allow": "POST"})
            model_name, version, label, method = match.groups()
            if problem := unserved(model_name, version, label):
                return problem
            if method != "predict":
                return error_response(400, f"Expected {METHOD_NAMES[method]} signature method_name to be tensorflow/"
                                           f"serving/{method}. Was: tensorflow/serving/predict")
            return await admitted_predict(request)
        if match := STATUS_PATH.fullmatch(route):
            if request.method != "GET":
                return error_response(405, f"{request.method} {route}: use GET", {"Allow": "GET"})
            model_name, version, label, metadata = match.groups()
            if problem := unserved(model_name, version, label):
                return problem
            return json_response(signature_metadata() if metadata else version_status())
        return error_response(404, f"{route}: no such endpoint (POST /v1/models/{options.name}:predict, "
                                   f"GET /v1/models/{options.name}[/metadata])")

    def version_status() -> dict:
        return {"model_version_status": [{"version": str(options.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def signature_metadata() -> dict:
        inputs = {
            spec.name: {"dtype": f"DT_{spec.dtype.name.upper()}", "name": spec.name,
                        "tensor_shape": {"dim": [{"size": "-1"}] * (2 if spec.sequence else 1)}}
            for spec in predictor.inputs.values()
        }
        outputs = {out: {"dtype": "DT_FLOAT", "name": out, "tensor_shape": {"dim": [{"size": "-1"}]}}
                   for out in predictor.outputs}
        signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return {"model_spec": {"name": options.name, "signature_name": "", "version": str(options.version)},
                "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}

    def busy(why: str) -> Response:
        return error_response(503, f"server busy: {why}; retry after {RETRY_AFTER_SECONDS} s",
                              {"Retry-After": str(RETRY_AFTER_SECONDS)})

    def rows_busy() -> Response:
        return busy(f"{rows_in_progress} rows waiting for the model, the limit is {max_queue_rows} (--max-queue-rows)")

    async def admitted_predict(request: Request) -> Response:
        """At most `max_queue` predict requests in progress (being read, checked, waiting or in the model);
        past it a 503 at once, before the body is read."""
        nonlocal in_progress
        if in_progress >= options.max_queue:
            return busy(f"{in_progress} requests in progress, the limit (--max-queue)")
        in_progress += 1
        try:
            return await predict(request)
        except RequestError as error:
            return error_response(error.status, str(error))
        finally:
            in_progress -= 1

    async def predict(request: Request) -> Response:
        """Read, check and encode the request on its own, then wait for its share of a model call."""
        nonlocal rows_in_progress
        body = await read_body(request, options.limits.body_bytes)
        if rows_in_progress >= max_queue_rows:  # any request (>= 1 row) would pass it: refused without decoding
            return rows_busy()
        if len(body) > THREAD_BODY_BYTES:
            encoded, row_format = await asyncio.to_thread(decode, predictor, body)
        else:
            encoded, row_format = decode(predictor, body)
        if rows_in_progress and rows_in_progress + encoded.rows > max_queue_rows:  # one request always passes
            return rows_busy()
        rows_in_progress += encoded.rows
        try:
            outputs = await queue.predict(encoded)
        finally:
            rows_in_progress -= encoded.rows
        names = sorted(outputs)
        columns = [outputs[name].astype(float).tolist() for name in names]
        if row_format:
            return json_response({"predictions": [dict(zip(names, values)) for values in zip(*columns)]})
        return json_response({"outputs": dict(zip(names, columns))})

    return app


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OverLimit(f"request body: {declared} bytes is over the limit of {limit} bytes (--max-body-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise OverLimit(f"request body: over the limit of {limit} bytes (--max-body-mb)")
    return b"".join(chunks)


def decode(predictor: SavedModelPredictor, body: bytes) -> tuple[EncodedRequest, bool]:
    """A request body -> (its checked, encoded rows, whether it came in the row format)."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        raise RequestError(f"request body: malformed JSON ({error})") from None
    except UnicodeDecodeError as error:
        raise RequestError(f"request body: not UTF-8 ({error.reason} at byte {error.start})") from None
    except RecursionError:
        raise RequestError("request body: JSON nested too deeply (a request needs 4 levels)") from None
    except ValueError as error:  # an integer of over 4300 digits
        raise RequestError(f"request body: {str(error).split(';')[0]}") from None
    if not isinstance(payload, dict):
        raise RequestError("request body: expected a JSON object with 'instances' or 'inputs'")
    signature = payload.get("signature_name", "serving_default")
    if signature != "serving_default":
        shown = signature if isinstance(signature, str) else type(signature).__name__
        raise RequestError(f"signature_name: '{shown[:60]}' is not served (only 'serving_default')")
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError("request body: give exactly one of 'instances' (rows) or 'inputs' (columns)")
    if "instances" in payload:
        return predictor.encode(predictor.rows_to_columns(payload["instances"], every_key=True)), True
    return predictor.encode(payload["inputs"]), False


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening address, taken before the model loads: a busy port is a one-line usage error."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise InputError(f"--host {host}: {error.strerror}") from None
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise InputError(f"--port {port}: {host}:{port} is already in use (is another server running?)") from None
        raise InputError(f"--host {host} --port {port}: cannot listen there ({error.strerror})") from None
    return sock


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Run the server on `sock` until SIGINT / SIGTERM: in-flight requests finish, then it exits 0."""
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

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10)
    GracefulServer(config).run(sockets=[sock])
