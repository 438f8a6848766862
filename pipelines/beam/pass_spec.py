"""What one pass over a dataset reads and counts, and what a first pass's results plan for a second.

Plain data, free of Beam: a stage builds them before Beam is imported, and the plan of a second pass
is made on a worker (pipelines.beam.passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from featureplex.features.counting.accumulator import BatchAccumulator


@dataclass(frozen=True)
class PassSpec:
    """One pass: the Beam step's label (what it counts: "CountFeatureLabel"), the columns read
    (`dictionary_columns`, text features, as Parquet dictionaries) and, by name, factories of the
    accumulators every batch is fed to."""

    label: str
    columns: tuple[str, ...]
    factories: tuple[tuple[str, Callable[[], BatchAccumulator]], ...]
    dictionary_columns: tuple[str, ...] = ()

    def accumulators(self) -> tuple[BatchAccumulator, ...]:
        return tuple(factory() for _, factory in self.factories)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.factories)


@dataclass(frozen=True)
class PassResults:
    """A pass's results by accumulator name."""

    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


@dataclass(frozen=True)
class Planned:
    """What a first pass's results decide: `kept` for the driver, `spec` for the second pass's workers."""

    kept: Any
    spec: PassSpec


@dataclass(frozen=True)
class NamedResult:
    """A pass's results, or a plan's `kept`, on its way to the scratch file `name` the driver reads."""

    name: str
    value: Any


@dataclass(frozen=True)
class Passes:
    """The results of a pipeline's passes: the first's, the plan's `kept` and the second's (None
    without a second pass)."""

    first: PassResults
    kept: Any = None
    second: PassResults | None = None
