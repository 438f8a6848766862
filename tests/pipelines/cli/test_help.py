"""Every command's --help describes every option, and the Beam stages name the common Beam options."""

import importlib

import click
import pytest
from click.testing import CliRunner

from featureplex.pipelines.cli import COMMANDS, cli

BEAM_COMMANDS = ("profile", "rank", "vocab", "run")
BEAM_OPTIONS = ("--direct_num_workers", "--direct_running_mode", "--runner DataflowRunner", "--project", "--region",
                "--temp_location")


def command(name: str) -> click.Command:
    module, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def help_text(name: str) -> str:
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="featureplex", terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_text_and_it_is_shown(name):
    options = [param for param in command(name).params if isinstance(param, click.Option)]
    assert options, name
    shown = " ".join(help_text(name).split())
    for option in options:
        assert option.help and len(option.help.split()) >= 2, f"{name} {option.opts[0]}: no help text"
        assert " ".join(option.help.split()) in shown, f"{name} {option.opts[0]}: help not shown"
    assert command(name).help, f"{name}: no description"


def test_train_help_describes_batch_size_and_learning_rate():
    lines = help_text("train").splitlines()
    for flag in ("--batch-size", "--learning-rate"):
        (line,) = [line for line in lines if line.strip().startswith(flag)]
        assert len(line.split()) > 3, line  # the flag, its type, then words


@pytest.mark.parametrize("name", BEAM_COMMANDS)
def test_beam_stages_name_the_common_beam_options(name):
    text = help_text(name)
    for option in BEAM_OPTIONS:
        assert option in text, (name, option)
