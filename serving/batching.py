"""Dynamic batching: one model call at a time, the requests that wait meanwhile join the next one.

A request joins only after it was checked and encoded on its own (`SavedModelPredictor.encode`), so a
batch holds valid requests only. Under load each call answers every waiting request (up to
`max_rows` rows), so throughput grows with the number of clients instead of calls competing for the
cores; `window_seconds` > 0 also waits that long after the first request for more to arrive.

Padding costs rows x the longest sequence of the call, so a call takes the oldest waiting request and
the waiting ones whose longest sequence falls in the same power-of-two bucket: a short request never
pays for another's long history by more than a factor of 2, and every request is answered in the
order it arrived as the head of the queue.

If a joined call fails, each of its requests is run alone, so an error reaches only the request that
causes it, with its own message, and never carries another request's data.
"""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np

from featureplex.serving.encoded_request import EncodedRequest
from featureplex.serving.predictor import SavedModelPredictor


def width_bucket(request: EncodedRequest) -> int:
    """ceil(log2(longest sequence + 1)): requests in one bucket pad to within 2x of their own width."""
    return int(request.width).bit_length()


class BatchQueue:
    """predict(request) -> outputs: the request's rows of a (possibly shared) model call."""

    def __init__(self, predictor: SavedModelPredictor, max_rows: int, window_seconds: float = 0.0):
        self._predictor = predictor
        self._max_rows = max_rows
        self._window = window_seconds
        self._waiting: deque[tuple[EncodedRequest, asyncio.Future]] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task | None = None

    async def predict(self, request: EncodedRequest) -> dict[str, np.ndarray]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        self._arrived.set()
        if self._worker is None:
            self._worker = asyncio.create_task(self._serve_forever())
        return await future

    async def _serve_forever(self) -> None:
        while True:
            await self._arrived.wait()
            if self._window > 0:
                await asyncio.sleep(self._window)
            while self._waiting:
                await self._answer(self._next_batch())
            self._arrived.clear()

    def _next_batch(self) -> list[tuple[EncodedRequest, asyncio.Future]]:
        head = self._waiting.popleft()
        batch, rows, bucket = [head], head[0].rows, width_bucket(head[0])
        kept = deque()
        while self._waiting:
            item = self._waiting.popleft()
            if rows + item[0].rows <= self._max_rows and width_bucket(item[0]) == bucket:
                batch.append(item)
                rows += item[0].rows
            else:
                kept.append(item)
        self._waiting = kept
        return batch

    async def _answer(self, batch: list[tuple[EncodedRequest, asyncio.Future]]) -> None:
        try:
            outputs = await asyncio.to_thread(self._predictor.run, EncodedRequest.join([request for request, _ in batch]))
        except Exception as error:
            if len(batch) > 1:  # find who caused it: each alone
                for item in batch:
                    await self._answer([item])
            else:
                _settle(batch[0][1], error=error)
            return
        start = 0
        for request, future in batch:
            _settle(future, {name: values[start : start + request.rows] for name, values in outputs.items()})
            start += request.rows


def _settle(future: asyncio.Future, result=None, error: Exception | None = None) -> None:
    """Answer a waiting request, unless its client went away (its future was cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
