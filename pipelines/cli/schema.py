"""`featureplex schema DATA`: the inferred schema as a table, and optionally a starter config.yaml.

Columns that look constant or ID-like (features.data.suspect_columns: Parquet statistics and a sample)
are noted in the table, and the starter config marks them `role: ignore` with a comment saying why.
"""

from __future__ import annotations

import os
import tempfile

import click
import yaml
from rich.console import Console
from rich.table import Table

from featureplex.features.data.dataset import ParquetDataset
from featureplex.features.data.schema import DatasetSchema, check_label_values, unix_seconds_span
from featureplex.features.data.suspect_columns import SuspectColumn, suspect_columns
from featureplex.pipelines.cli.options import data_arguments
from featureplex.pipelines.inputs import resolve_inputs


def starter_config(schema: DatasetSchema, dataset_path: str | None, suspects: dict[str, SuspectColumn]) -> str:
    """A config that spells out what was inferred, for the user to edit, as YAML text.

    Skipped and suspect columns get `role: ignore`; a suspect's line carries a comment with the reason.
    """
    head: dict = {"dataset": dataset_path} if dataset_path else {}
    head["label"] = schema.label
    if schema.timestamp:
        head["timestamp"] = schema.timestamp
    entries = []
    for spec in schema.features:
        entry: dict = {"kind": spec.kind.value}
        if spec.shares_with:
            entry["shares_with"] = spec.shares_with
        if spec.timestamps:
            entry["timestamps"] = spec.timestamps
        if spec.name in suspects:
            entry["role"] = "ignore"
        entries.append((spec.name, entry))
    entries += [(name, {"role": "ignore"}) for name, _reason in schema.skipped]
    if not entries:
        return yaml.safe_dump({**head, "features": {}}, sort_keys=False)
    lines = [yaml.safe_dump(head, sort_keys=False), "features:\n"]
    for name, entry in entries:
        block = yaml.safe_dump({name: entry}, sort_keys=False).rstrip("\n")
        if name in suspects:  # `role: ignore` is the block's last line
            block += f"  # {suspects[name].reason}; delete this line to use it as a feature"
        lines.append("".join(f"  {line}\n" for line in block.split("\n")))
    return "".join(lines)


def timestamp_note(dataset: ParquetDataset, name: str) -> str:
    """Why an integer column is the timestamp: the span of its Unix seconds."""
    span = unix_seconds_span(dataset, name)
    if span is None:
        return ""
    first, last = (moment.strftime("%Y-%m-%d %H:%M:%S") for moment in span)
    return f"integer Unix seconds, {first} to {last} UTC"


def write_text_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


@click.command()
@data_arguments
@click.option("--write-config", type=click.Path(dir_okay=False), default=None, help="Write a starter config.yaml here.")
def schema(data: str | None, config_path: str | None, label: str | None, write_config: str | None) -> None:
    """Print the schema inferred from DATA (a Parquet file, directory or glob)."""
    inputs = resolve_inputs(data, config_path, label)
    rows, positives = check_label_values(inputs.dataset, inputs.schema.label)
    arrow_schema = inputs.dataset.schema
    table = Table(title=f"{len(inputs.dataset.files)} file(s), {rows:,} rows, CTR {positives / rows:.4f}")
    for column in ("column", "type", "role", "notes"):
        table.add_column(column)
    table.add_row(inputs.schema.label, str(arrow_schema.field(inputs.schema.label).type), "label", "")
    timestamp = inputs.schema.timestamp
    if timestamp:
        table.add_row(timestamp, str(arrow_schema.field(timestamp).type), "timestamp", timestamp_note(inputs.dataset, timestamp))
    suspects = suspect_columns(inputs.dataset, inputs.schema, inputs.config.rank.id_like_ratio)
    for spec in inputs.schema.features:
        notes = ", ".join(
            note for note in (
                spec.shares_with and f"shares vocabulary with {spec.shares_with}",
                spec.timestamps and f"timestamps in {spec.timestamps}",
                spec.name in suspects and f"{suspects[spec.name].reason}: --write-config marks it role: ignore",
            ) if note
        )
        table.add_row(spec.name, spec.arrow_type, spec.kind.value, notes)
    for name in inputs.schema.sequence_timestamps:
        paired = ", ".join(spec.name for spec in inputs.schema.features if spec.timestamps == name)
        table.add_row(name, str(arrow_schema.field(name).type), "sequence timestamps", f"times of {paired}")
    for name, reason in inputs.schema.skipped:
        table.add_row(name, str(arrow_schema.field(name).type), "skipped", reason)
    shown = set(inputs.schema.columns()) | {name for name, _reason in inputs.schema.skipped}
    for name, feature in inputs.config.features.items():
        if feature.role == "ignore" and name not in shown:  # a sequence's timestamps may be ignored and still paired
            table.add_row(name, str(arrow_schema.field(name).type), "ignored", "role: ignore in the config")
    Console().print(table)
    if write_config:
        write_text_atomically(write_config, starter_config(inputs.schema, data, suspects))
        click.echo(f"wrote {write_config}")
