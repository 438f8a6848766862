"""`featureplex schema DATA`: the inferred schema as a table, and optionally a starter config.yaml."""

from __future__ import annotations

import os
import tempfile

import click
import yaml
from rich.console import Console
from rich.table import Table

from features.schema import DatasetSchema, check_label_values
from pipelines.command_inputs import data_arguments, resolve_inputs


def starter_config(schema: DatasetSchema, dataset_path: str | None) -> dict:
    """A config that spells out what was inferred, for the user to edit."""
    features = {}
    for spec in schema.features:
        entry: dict = {"kind": spec.kind.value}
        if spec.shares_with:
            entry["shares_with"] = spec.shares_with
        if spec.timestamps:
            entry["timestamps"] = spec.timestamps
        features[spec.name] = entry
    for name, _reason in schema.skipped:
        features[name] = {"role": "ignore"}
    config = {"label": schema.label, "features": features}
    if dataset_path:
        config = {"dataset": dataset_path, **config}
    if schema.timestamp:
        config["timestamp"] = schema.timestamp
    return config


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
    if inputs.schema.timestamp:
        table.add_row(inputs.schema.timestamp, str(arrow_schema.field(inputs.schema.timestamp).type), "timestamp", "")
    for spec in inputs.schema.features:
        notes = ", ".join(
            note for note in (
                spec.shares_with and f"shares vocabulary with {spec.shares_with}",
                spec.timestamps and f"timestamps in {spec.timestamps}",
            ) if note
        )
        table.add_row(spec.name, spec.arrow_type, spec.kind.value, notes)
    for name in inputs.schema.sequence_timestamps:
        table.add_row(name, str(arrow_schema.field(name).type), "sequence timestamps", "")
    for name, reason in inputs.schema.skipped:
        table.add_row(name, str(arrow_schema.field(name).type), "skipped", reason)
    Console().print(table)
    if write_config:
        config = starter_config(inputs.schema, data)
        write_text_atomically(write_config, yaml.safe_dump(config, sort_keys=False))
        click.echo(f"wrote {write_config}")
