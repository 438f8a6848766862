"""A checked request as numpy columns, ready to be joined with others into one model call.

Sequences stay ragged (flat values and row lengths) until the model call pads them, so joining
requests costs their size, not rows x the longest history of any of them; a sequence the model reads
through a window of W elements is cut to its last W first (`recent_slices`), as training cut it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncodedRequest:
    """rows; columns: {input: [rows]}; sequences: {input: (flat values, [rows] lengths)}."""

    rows: int
    columns: dict[str, np.ndarray]
    sequences: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def width(self) -> int:
        """The longest sequence: a model call pads every row of every sequence to its batch's longest."""
        return max((int(lengths.max(initial=0)) for _, lengths in self.sequences.values()), default=0)

    @staticmethod
    def join(requests: list[EncodedRequest]) -> EncodedRequest:
        """The requests' rows one after the other (outputs split back by `rows`)."""
        if len(requests) == 1:
            return requests[0]
        first = requests[0]
        return EncodedRequest(
            sum(request.rows for request in requests),
            {name: np.concatenate([request.columns[name] for request in requests]) for name in first.columns},
            {name: (np.concatenate([request.sequences[name][0] for request in requests]),
                    np.concatenate([request.sequences[name][1] for request in requests])) for name in first.sequences},
        )


def row_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each flat element of ragged rows: its row and its position in the row."""
    row_of = np.repeat(np.arange(lengths.size), lengths)
    return row_of, np.arange(row_of.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def padded(flat: np.ndarray, lengths: np.ndarray, missing) -> np.ndarray:
    """Ragged rows -> [rows, longest], the tail of each row filled with `missing`."""
    padding = np.full((lengths.size, int(lengths.max(initial=0))), missing, dtype=flat.dtype)
    padding[row_positions(lengths)] = flat
    return padding


def recent_slices(flat: np.ndarray, lengths: np.ndarray, missing, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, [start, end) of the last `window` elements up to the last element that is not missing.

    The graph drops trailing missing elements as padding and the model's `recent_window` then reads
    the last `window` of the rest, so cutting each row to this slice leaves the prediction unchanged.
    """
    row_of, position = row_positions(lengths)
    present = flat != missing
    ends = np.zeros(lengths.size, dtype=np.int64)
    np.maximum.at(ends, row_of[present], position[present] + 1)
    return np.maximum(ends - window, 0), ends


def sliced(flat: np.ndarray, lengths: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row cut to its [start, end): (flat values, lengths)."""
    row_of, position = row_positions(lengths)
    keep = (position >= starts[row_of]) & (position < ends[row_of])
    return flat[keep], ends - starts
