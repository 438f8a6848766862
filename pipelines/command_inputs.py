"""What every data-reading command takes: DATA, --config and --label, resolved to a dataset and schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import click

from features.config import FeatureplexConfig, load_config
from features.dataset import ParquetDataset, open_dataset
from features.errors import InputError
from features.schema import DatasetSchema, resolve_schema


@dataclass(frozen=True)
class CommandInputs:
    dataset: ParquetDataset
    config: FeatureplexConfig
    schema: DatasetSchema


def data_arguments(command: Callable) -> Callable:
    """Adds DATA (file, directory or glob; defaults to the config's `dataset`), --config and --label."""
    command = click.option("--label", default=None, help="Label column (default: the config's label, else 'label' or 'click').")(command)
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML config file.")(command)
    return click.argument("data", required=False)(command)


def resolve_inputs(data: str | None, config_path: str | None, label: str | None) -> CommandInputs:
    """Open the dataset, validate the config against it and infer the schema."""
    config = load_config(config_path)
    path = data or config.dataset
    if path is None:
        raise InputError("DATA: give a Parquet file, directory or glob (or `dataset:` in the config)")
    dataset = open_dataset(path)
    return CommandInputs(dataset, config, resolve_schema(dataset, config, label))
