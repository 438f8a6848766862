"""The `featureplex` command line.

Commands are loaded lazily (`featureplex --help` must not import TensorFlow or Beam). Exit codes:
0 ok, 2 usage or data error with one line on stderr, 1 internal error.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import sys

import click

from featureplex.features.errors import InputError
from featureplex.pipelines import __version__

# command name -> "module:attribute"; each stage module owns its click command.
COMMANDS = {
    "schema": "featureplex.pipelines.cli.schema:schema",
    "synth": "featureplex.pipelines.cli.synth:synth",
    "train": "featureplex.pipelines.cli.train:train",
    "serve": "featureplex.pipelines.cli.serve:serve",
    "predict": "featureplex.pipelines.cli.predict:predict",
    "evaluate": "featureplex.pipelines.cli.evaluate:evaluate",
    "register": "featureplex.pipelines.cli.register:register",
    "vocab": "featureplex.pipelines.cli.vocab:vocab",
    "run": "featureplex.pipelines.cli.run:run",
    "demo": "featureplex.pipelines.cli.demo:demo",
    "ui": "featureplex.pipelines.cli.ui:ui",
    "rank": "featureplex.pipelines.cli.rank:rank",
    "profile": "featureplex.pipelines.cli.profile:profile",
    "ctr-rows": "featureplex.pipelines.cli.sequence_data:ctr_rows",
    "next-item-sequences": "featureplex.pipelines.cli.sequence_data:next_item_sequences",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="featureplex")
def cli() -> None:
    """featureplex: rank and select features, build multiplexed vocabularies, train, track and serve CTR models."""


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes and one clear line."""
    # Libraries log warnings to the root logger (Beam: 'apitools not found' at import); on a terminal
    # they would stand before the one line a user needs. FEATUREPLEX_LOG_LEVEL=INFO shows them.
    logging.basicConfig(level=os.environ.get("FEATUREPLEX_LOG_LEVEL", "ERROR").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupted)  # unwind as Ctrl-C does: MLflow runs end KILLED, staging is removed
    exit_after(run_command(argv))


def exit_after(code: int) -> None:
    """Exit with `code` once a command is done (its artifacts closed, its output flushed).

    The garbage is collected once (finalisers run), then everything left is frozen: the interpreter's
    shutdown collections would otherwise walk every object Beam, pandas and TensorFlow allocated, again
    and again as modules are torn down (0.4-0.6 s after a 400k-row rank, a tenth of it). atexit
    handlers still run.
    """
    gc.collect()
    gc.freeze()
    sys.exit(code)


def run_command(argv: list[str] | None = None) -> int:
    """Run one command; its exit code: 0 ok, 2 a usage or data error (one line on stderr), 1 internal."""
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        # the arguments as given, for a command that starts itself again (train --workers N)
        code = cli.main(args=args, prog_name="featureplex", standalone_mode=False, obj={"args": [str(a) for a in args]})
        if isinstance(code, int):  # a click.exceptions.Exit raised inside a command (click returns its code)
            return code
    except InputError as error:
        click.echo(f"error: {error}", err=True)
        return 2
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:  # usage errors: the same one-line style as every other error
        context = getattr(error, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if isinstance(error, click.UsageError) and context else ""
        click.echo(f"error: {error.format_message()}{hint}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        return 1
    except Exception as error:  # internal errors: one line, traceback only on request
        if os.environ.get("FEATUREPLEX_DEBUG"):
            raise
        click.echo(f"internal error: {type(error).__name__}: {error} (set FEATUREPLEX_DEBUG=1 for the traceback)", err=True)
        return 1
    return 0
