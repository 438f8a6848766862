"""training_curve.png: integer epoch ticks, a legend whose colours are the lines', equal bytes for equal histories."""

import matplotlib.colors as mcolors
import pytest

from featureplex.pipelines.reports.training_curve import best_epoch, plot_training_curve, training_curve_figure


def history(epochs: int, train_auc: bool = True) -> list[dict]:
    records = []
    for epoch in range(epochs):
        record = {"epoch": epoch, "val_auc": [0.70, 0.74, 0.74, 0.73][epoch % 4] + 0.001 * (epoch // 4),
                  "val_logloss": 0.5 - 0.01 * epoch, "train_logloss": 0.48 - 0.012 * epoch, "learning_rate": 1e-3}
        if train_auc:
            record["train_auc"] = 0.71 + 0.02 * epoch
        records.append(record)
    return records


@pytest.mark.parametrize("epochs", [1, 3, 12])
def test_epoch_ticks_are_whole_numbers(epochs):
    figure = training_curve_figure(history(epochs))
    figure.canvas.draw()
    for axis in figure.axes:
        ticks = [tick for tick in axis.get_xticks() if axis.get_xlim()[0] <= tick <= axis.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
        assert all("." not in label.get_text() for label in axis.get_xticklabels())


def legend_colours(figure) -> dict[str, str]:
    (legend,) = figure.legends
    return {text.get_text(): mcolors.to_hex(handle.get_color())
            for text, handle in zip(legend.get_texts(), legend.legend_handles)}


def test_the_legend_shows_each_line_in_its_own_colour_and_style():
    figure = training_curve_figure(history(3))
    colours = legend_colours(figure)
    assert list(colours) == ["training", "validation", "best epoch (validation AUC)"]
    assert len(set(colours.values())) == 3
    for axis in figure.axes:
        drawn = {line.get_label(): (mcolors.to_hex(line.get_color()), line.get_linestyle())
                 for line in axis.get_lines() if not line.get_label().startswith("_")}
        assert {label: colour for label, (colour, _) in drawn.items()} == {
            label: colour for label, colour in colours.items() if label in drawn
        }
        assert drawn["training"][1] == "--" and drawn["validation"][1] == "-"


def test_a_metric_missing_from_every_epoch_is_neither_drawn_nor_in_the_legend():
    figure = training_curve_figure(history(3, train_auc=False))
    auc_axis, loss_axis = figure.axes
    assert [line.get_label() for line in auc_axis.get_lines() if line.get_label() in ("training", "validation")] == ["validation"]
    assert {"training", "validation"} <= set(legend_colours(figure))  # training logloss is still drawn


def test_the_best_epoch_is_the_first_highest_validation_auc():
    assert best_epoch(history(4)) == 1
    assert best_epoch([{"epoch": 0}]) is None


def test_equal_histories_give_equal_png_bytes(tmp_path):
    first = plot_training_curve(history(5), tmp_path / "a.png")
    second = plot_training_curve(history(5), tmp_path / "b.png")
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temporary left behind
