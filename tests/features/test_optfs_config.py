"""The `optfs:` config section: defaults, and each bad value named by its key."""

import pytest

from featureplex.features.data.config import parse_config
from featureplex.features.errors import InputError


def test_defaults_follow_the_reference():
    optfs = parse_config({}).optfs
    assert (optfs.final_tau, optfs.search_epochs, optfs.rewind_epoch, optfs.search_steps) == (200.0, 20, 0, 0)


@pytest.mark.parametrize("section, key", [
    ({"penalty": 0}, "optfs.penalty"),
    ({"penalty": 1.5}, "optfs.penalty"),
    ({"final_tau": 1.0}, "optfs.final_tau"),
    ({"search_epochs": 1}, "optfs.search_epochs"),
    ({"search_epochs": 3, "rewind_epoch": 3}, "optfs.rewind_epoch"),
    ({"rewind_epoch": -1}, "optfs.rewind_epoch"),
    ({"search_steps": -1}, "optfs.search_steps"),
    ({"lambda": 0.1}, "optfs.lambda"),
])
def test_bad_values_name_the_key(section, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        parse_config({"optfs": section}, "cfg.yaml")
