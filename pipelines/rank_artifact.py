"""The rank artifact (DESIGN.md section 2), written atomically:

    ranking.parquet / ranking.tsv   one row per feature, best first (features.ranking.RANKING_SCHEMA)
    interactions.parquet            one row per pool pair, by interaction gain (features.interactions)
    redundancy.parquet              one row per pool pair, by MI(a;b)/min(H(a),H(b))
    selection.json                  the greedy selection: recommended features in order, redundant drops
    anomalies.json                  per-feature checks, drift windows, skipped columns (features.anomalies)
    report.html                     self-contained report with embedded PNG plots (pipelines.report)
    manifest.json                   stage, input fingerprint, parameters, outputs, timings

Parquet is written by pyarrow with fixed settings (zstd, no statistics pages beyond the defaults, no
timestamps anywhere), strings as plain `string`; everything but the manifest's timings is a pure
function of the counts, so equal inputs give byte-identical files whatever the number of workers.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from features.artifacts import MANIFEST, atomic_artifact_dir, write_json, write_manifest
from features.config import RankParams
from features.dataset import ParquetDataset

STAGE = "rank"
RANKING = "ranking.parquet"
RANKING_TSV = "ranking.tsv"
INTERACTIONS = "interactions.parquet"
REDUNDANCY = "redundancy.parquet"
SELECTION = "selection.json"
ANOMALIES = "anomalies.json"
REPORT = "report.html"


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Deterministic Parquet: large strings narrowed to `string`, fixed compression, one row group."""
    table = frame.to_arrow()
    schema = pa.schema([
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema
    ])
    pq.write_table(table.cast(schema), path, compression="zstd", row_group_size=max(table.num_rows, 1))


def selection_payload(result) -> dict:
    return {
        "recommended": [c.feature for c in result.selection if c.selected],
        "choices": [
            {"feature": c.feature, "selected": c.selected, "order": c.order, "marginal": c.marginal,
             "redundant_with": c.redundant_with}
            for c in result.selection
        ],
        "interaction_pool": result.pool,
    }


def write_rank_artifact(out: str | os.PathLike, result, dataset: ParquetDataset, data_path: str,
                        params: RankParams, timings: dict[str, float] | None = None) -> Path:
    """All files of the artifact into `out` (replaced whole on success, untouched on failure)."""
    from pipelines.report import render_report

    with atomic_artifact_dir(out) as staging:
        write_parquet(result.ranking, staging / RANKING)
        result.ranking.write_csv(staging / RANKING_TSV, separator="\t")
        write_parquet(result.interactions, staging / INTERACTIONS)
        write_parquet(result.redundancy, staging / REDUNDANCY)
        write_json(staging / SELECTION, selection_payload(result))
        write_json(staging / ANOMALIES, result.anomalies)
        (staging / REPORT).write_text(render_report(result))
        write_manifest(
            staging,
            stage=STAGE,
            inputs={"dataset": data_path, "fingerprint": dataset.fingerprint(), "rows": result.rows},
            parameters={"label": result.anomalies["label"]["column"], **params.model_dump()},
            outputs=[RANKING, RANKING_TSV, INTERACTIONS, REDUNDANCY, SELECTION, ANOMALIES, REPORT, MANIFEST],
            timings=timings,
        )
    return Path(out)
