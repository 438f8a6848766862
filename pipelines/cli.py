"""The `featureplex` command line.

Commands are loaded lazily (`featureplex --help` must not import TensorFlow or Beam). Exit codes:
0 ok, 2 usage or data error with one line on stderr, 1 internal error.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from features.errors import InputError
from pipelines import __version__

# command name -> "module:attribute"; each stage module owns its click command.
COMMANDS = {
    "schema": "pipelines.schema_command:schema",
    "synth": "pipelines.synth_command:synth",
    "train": "pipelines.train_command:train",
    "serve": "pipelines.serve_command:serve",
    "predict": "pipelines.predict_command:predict",
    "register": "pipelines.register_command:register",
    "vocab": "pipelines.vocab_command:vocab",
    "run": "pipelines.run_command:run",
    "demo": "pipelines.demo_command:demo",
    "ui": "pipelines.ui_command:ui",
    "rank": "pipelines.rank_command:rank",
    "profile": "pipelines.profile_command:profile",
    "ctr-rows": "pipelines.sequence_data_command:ctr_rows",
    "next-item-sequences": "pipelines.sequence_data_command:next_item_sequences",
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


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes and one clear line."""
    # Libraries log warnings to the root logger (Beam: 'apitools not found' at import); on a terminal
    # they would stand before the one line a user needs. FEATUREPLEX_LOG_LEVEL=INFO shows them.
    logging.basicConfig(level=os.environ.get("FEATUREPLEX_LOG_LEVEL", "ERROR").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        cli.main(args=argv, prog_name="featureplex", standalone_mode=False)
    except InputError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except Exception as error:  # internal errors: one line, traceback only on request
        if os.environ.get("FEATUREPLEX_DEBUG"):
            raise
        click.echo(f"internal error: {type(error).__name__}: {error} (set FEATUREPLEX_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
