"""`featureplex train --select optfs`: the OptFS search, its keep ratios printed, the final model's outcome returned."""

from __future__ import annotations

from pipelines.command_inputs import CommandInputs


def run_optfs(inputs: CommandInputs, vocab_dir: str, out: str, params, resume: bool, report):
    """Run `select_optfs` with the config's `optfs:` section; print the selection; the final TrainOutcome."""
    from rich.table import Table

    from pipelines.optfs_flow import select_optfs
    from pipelines.progress import console

    def progress(phase: str, epoch: int, metrics: dict) -> None:
        console.print(f"[{phase}] ", end="")
        report(epoch, metrics)

    selected = select_optfs(inputs, vocab_dir, out, params, inputs.config.optfs, resume=resume, on_epoch_end=progress)
    table = Table(title=f"OptFS keep ratios (dropped: {', '.join(selected.dropped) or 'none'})")
    for column in ("feature", "values", "kept", "value ratio", "row ratio", "tail"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for name, ratio in selected.keep_ratios.items():
        table.add_row(name, str(ratio.values), str(ratio.values_kept), f"{ratio.value_ratio:.3f}", f"{ratio.row_ratio:.3f}",
                      "kept" if ratio.tail_kept else "dropped")
    console.print(table)
    console.print(f"embedding parameters {selected.parameters_before} -> {selected.parameters_after}; "
                  f"retrain (hard gates) val_auc {selected.retrain_metrics.get('val_auc', float('nan')):.4f}; "
                  f"pruned vocab: {selected.pruned_vocab}")
    return selected.final
