"""What one request may cost the server, each limit a `featureplex serve` option.

A request over a limit is refused with HTTP 413 and a message naming the limit and its option,
before any model work: the cost of a request is bounded by body bytes (reading, parsing), rows x
longest sequence (the padded tensors of one model call) and string length (hashing).
"""

from __future__ import annotations

from dataclasses import dataclass


class RequestError(ValueError):
    """A request the model cannot take; the message names the field. `status` is its HTTP code."""

    status = 400


class OverLimit(RequestError):
    """A request over one of the server's limits (HTTP 413, Payload Too Large)."""

    status = 413


@dataclass(frozen=True)
class RequestLimits:
    """body_bytes: request body; rows: rows per request; sequence_items: elements of one sequence as
    sent (before the cut to the model's window); string_chars: characters of one string value.
    The defaults are `featureplex serve`'s (pipelines/cli/serve.py)."""

    body_bytes: int
    rows: int
    sequence_items: int
    string_chars: int

    def check_rows(self, rows: int, where: str) -> None:
        if rows > self.rows:
            raise OverLimit(f"{where}: {rows} rows is over the limit of {self.rows} rows per request (--max-rows)")


UNLIMITED = RequestLimits(body_bytes=1 << 62, rows=1 << 62, sequence_items=1 << 62, string_chars=1 << 62)
