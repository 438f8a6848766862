"""What several commands share: DATA / --config / --label, and the validation of flags like config keys."""

from __future__ import annotations

import contextlib
import difflib
import warnings
from typing import Any, Callable, Iterator, Mapping, TypeVar

import click
from pydantic import BaseModel, ValidationError

from featureplex.features.errors import InputError

Params = TypeVar("Params", bound=BaseModel)

# The help epilog of the commands that run Beam pipelines (profile, rank, vocab, run): the Beam options a
# user reaches for most, which these commands pass through to Apache Beam.
# "\b" keeps click from re-wrapping the lines below.
BEAM_OPTIONS_HELP = """\b
Apache Beam options: any option not listed above goes to Beam, for example
  --direct_num_workers 2 --direct_running_mode multi_processing
      run locally on 2 worker processes (default: one, in this process)
  --runner dask [--dask_workers 2]
      run on a local Dask cluster of worker processes (install the dask extra)
  --runner dask --dask_client_address HOST:8786 --temp_location /shared/tmp
      run on a running Dask cluster (docs/distributed.md)
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
      --extra_package dist/featureplex-0.1.0-py3-none-any.whl [--dry_run]
      run on Google Cloud Dataflow (install the gcp extra; docs/dataflow.md);
      --dry_run prints the job's steps and submits nothing
"""


def data_arguments(command: Callable) -> Callable:
    """Adds DATA (file, directory or glob; defaults to the config's `dataset`), --config and --label."""
    command = click.option("--label", default=None, help="Label column (default: the config's label, else 'label' or 'click').")(command)
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML config file.")(command)
    return click.argument("data", required=False)(command)


def with_flags(params: Params, flags: Mapping[str, Any], names: Mapping[str, str], section: str) -> Params:
    """The config section `params` with the flags given on the command line (None: not given) applied and
    validated exactly as the config is (pydantic's model_copy would not validate); a bad value is an
    InputError naming the flag (`names`: field -> flag), or `section.field` for a config key."""
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return type(params).model_validate({**params.model_dump(), **given})
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        raise InputError(f"{names.get(key, f'{section}.{key}')}: {first['msg']} (got {first.get('input')!r})") from None


@contextlib.contextmanager
def warning_lines(*categories: type[Warning]) -> Iterator[None]:
    """Warnings of `categories` raised inside, printed after it as one `warning: ...` line each on stderr
    (no Python source line); libraries' other warnings are not the user's business and are dropped."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, categories):
            click.echo(f"warning: {warning.message}", err=True)


def beam_flags(ctx: click.Context) -> tuple[str, ...]:
    """The flags a Beam command does not know itself, each checked against Apache Beam's own option parser:
    a flag Beam does not know either (a typo such as `--shufles`) is an InputError with a did-you-mean,
    not silently ignored. Options that cannot work together (pipelines.beam.options.check_options) fail
    here too, before any data is read."""
    if not ctx.args:
        return ()
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    # featureplex's own Beam options (--dask_workers) are registered on import, the Dask runner's when named
    from featureplex.pipelines.beam.dask_cluster import register_dask_options
    from featureplex.pipelines.beam.options import beam_arguments, pipeline_options

    register_dask_options(ctx.args)
    parser = _BeamArgumentParser(allow_abbrev=False)
    for options in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        options._add_argparse_args(parser)  # how Beam itself collects every option it knows
    _, unknown = parser.parse_known_args(beam_arguments(ctx.args))
    if unknown:
        flag = next((arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")), unknown[0])
        known = [name for action in parser._actions for name in action.option_strings]
        own = [name for param in ctx.command.params for name in getattr(param, "opts", []) if name.startswith("--")]
        close = difflib.get_close_matches(flag, own + known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"{flag}: not an option of `featureplex {ctx.info_name}` nor of Apache Beam{hint}")
    pipeline_options(ctx.args)
    return tuple(ctx.args)


def guard_options(command: Callable) -> Callable:
    """Adds --rank DIR and --allow-suspect-columns to a command that builds a model's features (vocab, train)."""
    command = click.option("--allow-suspect-columns", is_flag=True,
                           help="Use every feature of the config even when one looks like a label leak, a row id "
                                "or a constant (checked on a sample of the data).")(command)
    return click.option("--rank", "--ranking", "rank_dir", type=click.Path(file_okay=False), default=None,
                        help="A rank artifact (featureplex rank): use the features it chooses (its recommended "
                             "features and the pairs of its top interactions, no leak, ID or constant), as "
                             "`featureplex run` does, and link it to the MLflow run.")(command)


def guarded(inputs, rank_dir: str | None, allow_suspect_columns: bool):
    """The inputs a model is built from: the rank artifact's features with --rank; otherwise every feature,
    once none looks like a leak, a row id or a constant (unless allowed)."""
    from featureplex.pipelines.artifacts.rank import RankArtifact
    from featureplex.pipelines.guard import check_suspect_columns, chosen_by_rank

    if rank_dir:
        return chosen_by_rank(inputs, RankArtifact.read(rank_dir))[0]
    _rows, _positives = inputs.label_counts  # data that is wrong is said first: labels not 0/1, no rows
    if not allow_suspect_columns:
        check_suspect_columns(inputs)
    return inputs


@contextlib.contextmanager
def printing_dry_run() -> Iterator[None]:
    """A stage run inside that stops at a built Dataflow job (`--dry_run`) prints the job's steps, one
    per line, and `warning:` lines for what would fail once it runs; the command then exits 0 and writes
    no artifact."""
    from featureplex.pipelines.beam.dry_run import DryRunJob

    try:
        yield
    except DryRunJob as job:
        click.echo(f"dry run: a Dataflow job of {len(job.steps)} steps, built and not submitted; no artifact written")
        for step in job.steps:
            click.echo(step)
        for warning in job.warnings:
            click.echo(f"warning: {warning}", err=True)
        raise click.exceptions.Exit(0) from None


def rerun_as_workers(ctx: click.Context, workers: int, resume: str) -> None:
    """`--workers N`: this command again, less `--workers`, as N local worker processes of one cluster
    (pipelines.local_workers); a worker's failure is the command's one line, saying how to `resume`, and exit
    code 1."""
    from featureplex.pipelines.cluster import WorkerCluster
    from featureplex.pipelines.local_workers import WorkerFailed, run_local_workers

    if WorkerCluster.from_environment() is not None:
        raise InputError("--workers: TF_CONFIG already names a cluster; give one or the other")
    args = ctx.obj["args"]
    at = next(i for i, arg in enumerate(args) if arg == "--workers" or arg.startswith("--workers="))
    try:
        run_local_workers(workers, args[:at] + args[at + (1 if "=" in args[at] else 2):], resume)
    except WorkerFailed as failure:
        click.echo(f"error: {failure}", err=True)
        raise click.exceptions.Exit(1) from None
