import pytest

from featureplex.features.data.config import load_config, parse_config
from featureplex.features.errors import InputError


def test_defaults_without_a_file():
    config = load_config(None)
    assert config.rank.heuristic == "mi-chance"
    assert config.vocab.mode == "hybrid"


def test_full_config_parses(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "dataset: data/\nlabel: click\ntimestamp: ts\nfeatures:\n"
        "  hist: {kind: sequence, shares_with: item, timestamps: hist_ts}\n  junk: {role: ignore}\n"
        "rank: {chance: shuffles, shuffles: 4, heuristic: mi}\nvocab: {mode: separate, dimension: 8}\n"
    )
    config = load_config(path)
    assert config.label == "click"
    assert config.features["hist"].shares_with == "item"
    assert config.features["junk"].role == "ignore"
    assert config.rank.shuffles == 4 and config.vocab.dimension == 8


def test_unknown_key_is_named():
    with pytest.raises(InputError, match=r"unknown key 'rank.shufles'"):
        parse_config({"rank": {"shufles": 3}})


def test_wrong_type_is_named():
    with pytest.raises(InputError, match=r"key 'vocab.dimension'"):
        parse_config({"vocab": {"dimension": "big"}})


def test_out_of_range_is_named():
    with pytest.raises(InputError, match=r"key 'rank.shuffles'"):
        parse_config({"rank": {"chance": "shuffles", "shuffles": 0}})


def test_shuffles_are_counted_only_to_estimate_chance():
    """The closed form (default) makes the passes count no shuffled labels; asking for some is an error."""
    assert parse_config({}).rank.shuffles == 0
    assert parse_config({"rank": {"chance": "shuffles"}}).rank.shuffles == 8
    with pytest.raises(InputError, match=r"key 'rank.shuffles': .*only with rank.chance: shuffles"):
        parse_config({"rank": {"shuffles": 8}})
    params = parse_config({"rank": {"chance": "shuffles", "shuffles": 3}}).rank
    assert type(params).model_validate(params.model_dump()) == params


def test_not_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_config(path)


def test_invalid_yaml_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: !!python/object/apply:os.system ['echo unsafe']\n")
    with pytest.raises(InputError):
        load_config(path)
