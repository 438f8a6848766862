"""What one pass over a dataset reads and counts, and what a first pass's results plan for a second.

Plain data, free of Beam: the rank stage builds them before Beam is imported, and the plan of its
second pass is made on a worker (pipelines.beam_combine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class PassSpec:
    """One pass: the columns read (`dictionary_columns`, text features, as Parquet dictionaries) and
    factories of the accumulators every batch is fed to."""

    columns: tuple[str, ...]
    factories: tuple[Callable[[], Any], ...]
    dictionary_columns: tuple[str, ...] = ()

    def accumulators(self) -> tuple:
        return tuple(factory() for factory in self.factories)


@dataclass(frozen=True)
class Planned:
    """What a first pass's results decide: `kept` for the driver, `spec` for the second pass's workers."""

    kept: Any
    spec: PassSpec
