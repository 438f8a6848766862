"""featureplex vs FuxiCTR 2.3.10 on every real CTR data set we have: the same files, the same settings (issue 22).

Data (../shared/data, or FEATUREPLEX_SHARED_DATA), each written once as train / valid / test Parquet
that both platforms read:
- `criteo`: the Criteo 10k sample, split 80/10/10 at random (seed 0) exactly as
  benchmarks/train_vs_fuxictr.py splits it; 39 categorical fields (I1..I13 counts as categories).
- `beauty`, `videogames`: DIN-style CTR rows built by the project's builder
  (`pipelines.datasets.ctr_rows.build_ctr_rows`, what `featureplex ctr-rows` runs) from every user's
  history: for every event after a user's first, the real item (label 1) and an item the user never
  touched (label 0, drawn from the whole catalogue), with the user's last `--max-length` items as
  `history_item_ids`; then the rows of a seeded sample of `--users` users (all with `--users 0`).
  Leave-last-out by user: each user's last event is test (the builder's test rows), the one before it
  valid, the earlier ones train. Fields user_id, item_id and the history (sharing item_id's
  vocabulary).

Both platforms fit their vocabularies on train, train on train with early stopping on valid AUC (the
best evaluation's weights kept) and are scored on test (exact AUC, logloss):
- featureplex: its command line, in process (`pipelines.cli.run_command`): `featureplex vocab
  train.parquet`, then `featureplex train train.parquet --validation valid.parquet --test
  test.parquet` (the whole of train trains; early stopping, best weights and plateau cuts on valid; the
  kept weights scored on test: test_auc / test_logloss of its metrics.json), with the SavedModel export
  and MLflow tracking every run does. `--via stage` runs the same train stage steps in process
  (`pipelines.training.assemble`, `models.training.train`) on train + valid with `split_time` on the
  valid rows, and scores the kept model on test.parquet, without the export and MLflow (2-3 minutes a
  run less on a loaded 2-core machine; the same test metrics). All of a data set's runs go through one
  child process (one TensorFlow start-up).
- FuxiCTR: benchmarks/fuxictr_driver.py in its own virtual environment (`--venv`, made on first use
  by train_vs_fuxictr.ensure_venv: `pip install torch==2.13.0 fuxictr`, the CPU build), one child per
  model with every seed on the same preprocessed arrays.

Settings, the same on both sides (`SHARED`): embedding dimension 16, batch 1024, Adam 1e-3 with
FuxiCTR's reduce-on-plateau (x0.1 on every evaluation without a better valid AUC, floor 1e-6;
featureplex's per-epoch decay off), MLP [256, 128] (ReLU, no batch norm, no dropout) in every model,
no embedding L2, up to 10 epochs with patience 2, minimum count 2; DCN-v2 3 cross layers (full rank,
parallel); AutoInt+ 3 attention layers x 2 heads x 16 per head; DIN attention MLP [64] with Dice,
unnormalised weights; FuxiCTR's training protocol on featureplex's side too (`FUXICTR_PROTOCOL`:
embeddings N(0, 1e-4), Adam epsilon 1e-8, gradient norms clipped at 10). Each platform keeps its own
embedding table (featureplex: one multiplexed table, laid out collisionless without a budget; FuxiCTR: a
table per feature; both give values seen once, and unseen ones, one out-of-vocabulary row per feature).
featureplex `defaults` is featureplex with nothing set at all (its defaults, no tuning); its best is the
better of `shared` and `defaults` per model.

Printed: per data set and model, test AUC and logloss (mean ± sd over the seeds) of both sides, the
difference, whether featureplex >= FuxiCTR - 0.001, the best model of each side against the other's,
and featureplex's defaults against its best (goal: within 0.003); the epochs each side ran and kept.
With `--optfs`: featureplex `train --select optfs` (the shared settings, the `optfs` section's defaults:
the select stage's search, pruning and final training, scored on test) against its unpruned shared
model (goal: >= unpruned - 0.002), and the embedding parameters before and after.

    nice -n 5 .venv/bin/python benchmarks/ctr_parity.py                       # everything, 3 seeds
    nice -n 5 .venv/bin/python benchmarks/ctr_parity.py --via stage           # the same without export / MLflow
    .venv/bin/python benchmarks/ctr_parity.py --datasets criteo --models dnn --seeds 0
    # one featureplex setting changed, against FuxiCTR's cached results (run nothing of FuxiCTR's)
    .venv/bin/python benchmarks/ctr_parity.py --platforms featureplex --via stage --datasets videogames --models dnn \
        --featureplex-set train.embedding_initializer=normal

Everything is written under `--work` (default .bench/ctr_parity): the splits once, each side's
results per data set; a rerun reuses every result whose settings are unchanged (`--fresh`: reruns the
selected ones, keeping the others), and
`--report` prints the tables of the results there without running anything; `--platforms featureplex`
still prints FuxiCTR's results already there for the same settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.train_vs_fuxictr import (  # noqa: E402
    DRIVER,
    VALID_START,
    ensure_venv,
    fuxictr_feature_cols,
    prepare_criteo,
    run_child,
    shared_data,
    write_parts,
)

DATASETS = {"criteo": None, "beauty": "amazon_beauty/Beauty.txt", "videogames": "amazon_videogames/Video.txt"}
MODELS = ("dnn", "dcn", "autoint+", "deepfm", "din")
SEQUENCE_MODELS = ("din",)  # only where the data has a history
SHARED = {
    "embedding_dim": 16, "batch_size": 1024, "learning_rate": 1e-3, "hidden_units": [256, 128], "dropout": 0.0,
    "batch_norm": False, "embedding_l2": 0.0, "epochs": 10, "patience": 2, "min_count": 2,
    "cross_layers": 3, "attention_layers": 3, "heads": 2, "head_dim": 16,
    "attention_units": [64], "attention_activation": "dice", "hidden_activation": "relu",
}
# FuxiCTR's fixed choices (its code, not its config), set on featureplex's side of the shared settings
FUXICTR_PROTOCOL = {"embedding_initializer": "normal", "embedding_init_scale": 1e-4, "adam_epsilon": 1e-8,
                    "gradient_clip_norm": 10.0}
AUC_MARGIN, DEFAULTS_MARGIN, OPTFS_MARGIN = 0.001, 0.003, 0.002


# ---------------------------------------------------------------- data

def prepare_amazon(work: Path, name: str, users: int, max_length: int, seed: int) -> tuple[dict[str, Path], dict]:
    """Leave-last-out train / valid / test of the builder's DIN-style rows, those of a seeded sample of `users` users."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from featureplex.pipelines.datasets.ctr_rows import build_ctr_rows
    from featureplex.pipelines.datasets.user_histories import read_user_histories

    root = work / f"{name}-users{users or 'all'}-len{max_length}-seed{seed}"
    features = {"categorical": ["user_id", "item_id"], "numeric": [], "sequence": {"history_item_ids": "item_id"}}
    paths = {split: root / f"{split}.parquet" for split in ("train", "valid", "test")}
    paths["train_valid"] = root / "train_valid" / "part-00000.parquet"
    if paths["train_valid"].exists():
        return paths, features
    source = shared_data() / DATASETS[name]
    if not source.exists():
        raise SystemExit(f"{source}: not found (set FEATUREPLEX_SHARED_DATA to the shared data folder)")
    shutil.rmtree(root, ignore_errors=True)
    # rows of every user first, then the sample's: negatives drawn from the whole catalogue. Building on the
    # sample alone draws them from the sample's items, among them items whose only positive is a user's last
    # (test) event; those are labelled 0 wherever they appear in training, and test AUC fell below 0.5
    stats = build_ctr_rows(read_user_histories(source), root / "rows", max_length=max_length, seed=seed)
    print(f"{name}: {json.dumps(stats.__dict__)}", flush=True)
    rows, test = pq.read_table(root / "rows" / "train"), pq.read_table(root / "rows" / "test")
    if users:
        everyone = np.unique(test.column("user_id").to_numpy())
        kept = pa.array(np.random.default_rng(seed).choice(everyone, min(users, len(everyone)), replace=False))
        rows, test = (table.filter(pc.is_in(table.column("user_id"), kept)) for table in (rows, test))
    # rows come in (positive, negative) pairs per event, a user's events in time order: a user's last
    # pair is the one whose next pair belongs to another user (or that ends the table)
    pair_users = rows.column("user_id").to_numpy()[::2]
    last = np.r_[pair_users[1:] != pair_users[:-1], True]
    valid = np.repeat(last, 2)
    parts = {"train": rows.filter(pa.array(~valid)), "valid": rows.filter(pa.array(valid)), "test": test}
    return write_parts(parts, root), features


def prepare(dataset: str, args) -> tuple[dict[str, Path], dict]:
    work = args.work.resolve()
    if dataset == "criteo":
        return prepare_criteo(work, seed=0)
    return prepare_amazon(work, dataset, args.users, args.max_length, seed=0)


# ---------------------------------------------------------------- the runs

def models_for(dataset_features: dict, models: list[str]) -> list[str]:
    return [m for m in models if m not in SEQUENCE_MODELS or dataset_features["sequence"]]


def featureplex_model_parameters(model: str, settings: dict) -> dict:
    """`model_parameters` of the shared settings under each featureplex model's own names."""
    mlp = {"dropout": settings["dropout"], "batch_norm": settings["batch_norm"]}
    if model in ("dnn", "deepfm"):
        return {"hidden_units": settings["hidden_units"], **mlp}
    if model == "dcn":
        return {"hidden_units": settings["hidden_units"], "cross_layers": settings["cross_layers"], **mlp}
    if model == "autoint+":
        return {"dnn_units": settings["hidden_units"], "attention_layers": settings["attention_layers"],
                "heads": settings["heads"], "attention_dim": settings["head_dim"], **mlp}
    # din: its DNN head, the attention MLP (din has no batch norm option)
    return {"hidden_units": settings["hidden_units"], "dropout": settings["dropout"],
            "activation": settings["hidden_activation"], "attention_units": settings["attention_units"],
            "attention_activation": settings["attention_activation"], "softmax": False}


def featureplex_config(features: dict, variant: str, settings: dict, via: str) -> dict:
    """The featureplex config of a variant: `shared` sets every shared setting, `defaults` nothing (but, `--via
    stage`, the split_time that puts exactly the valid rows of train + valid in validation)."""
    config = {"label": "label", "timestamp": "split_at",
              "features": {name: {"kind": "sequence", "shares_with": shared} for name, shared in features["sequence"].items()},
              "train": {"split_time": VALID_START.astype(str)} if via == "stage" else {}}
    if variant == "shared":
        config["vocab"] = {"dimension": settings["embedding_dim"], "min_count": settings["min_count"]}
        config["train"].update({
            "batch_size": settings["batch_size"], "learning_rate": settings["learning_rate"], "learning_rate_decay": 1.0,
            "plateau_factor": 0.1, "plateau_patience": 1, "min_learning_rate": 1e-6, "epochs": settings["epochs"],
            "patience": settings["patience"], "embedding_l2": settings["embedding_l2"], **FUXICTR_PROTOCOL,
        })
    return config


def with_overrides(config: dict, overrides: list[str]) -> dict:
    """The config with each `SECTION.KEY=VALUE` of `--featureplex-set` set (VALUE read as YAML: 1e-8, normal, [64])."""
    import yaml

    config = json.loads(json.dumps(config))
    for override in overrides:
        path, separator, value = override.partition("=")
        *sections, key = path.split(".")
        if not separator or not sections or not key:
            raise SystemExit(f"--featureplex-set {override}: expected SECTION.KEY=VALUE, e.g. vocab.chunks=1")
        node = config
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = yaml.safe_load(value)
    return config


def featureplex_runs(features: dict, args) -> list[dict]:
    runs = []
    for variant in tuple(args.variants) + (("optfs",) if args.optfs else ()):
        for model in models_for(features, args.models):
            if variant == "optfs" and model in SEQUENCE_MODELS:
                continue
            config = featureplex_config(features, "defaults" if variant == "defaults" else "shared", SHARED, args.via)
            config = with_overrides(config, args.featureplex_set)
            parameters = featureplex_model_parameters(model, SHARED) if variant != "defaults" else {}
            for seed in args.seeds:
                run = {"variant": variant, "model": model, "seed": seed, "config": config, "parameters": parameters}
                run["key"] = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:16]
                runs.append(run)
    return runs


def run_featureplex_child(spec_path: Path, results_path: Path) -> None:
    """Child process: every run of the spec not yet in `results_path` (JSON lines), appended as it ends."""
    import os

    spec = json.loads(spec_path.read_text())
    work = Path(spec["work"])
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")
    done = {json.loads(line)["key"] for line in results_path.read_text().splitlines()} if results_path.exists() else set()
    for run in spec["runs"]:
        if run["key"] in done:
            continue
        result = (featureplex_cli_run if spec["via"] == "cli" else featureplex_stage_run)(spec["splits"], work, run)
        with open(results_path, "a") as out:
            out.write(json.dumps({**{k: run[k] for k in ("key", "variant", "model", "seed")}, **result}) + "\n")
        print(f"  featureplex ({spec['via']}) {run['variant']:8s} {run['model']:8s} seed {run['seed']}: test AUC {result['test_auc']:.4f}  "
              f"logloss {result['test_logloss']:.4f}  best epoch {best_epoch(result)} of {result['epochs']}  "
              f"({result['seconds']:.0f} s)", flush=True)


def featureplex_vocabulary(splits: dict, work: Path, config: dict) -> Path:
    """`featureplex vocab train.parquet` for the config's vocab section (built once per section)."""
    import yaml

    from featureplex.pipelines.cli import run_command

    vocab = config.get("vocab", {})
    out = work / ("vocab-" + (hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest()[:12]))
    if not (out / "layout.json").exists():
        path = out.with_suffix(".yaml")
        path.write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "train"}))
        if run_command(["vocab", splits["train"], "--config", str(path), "--out", str(out), "--allow-suspect-columns"]) != 0:
            raise SystemExit(f"featureplex vocab failed for {path}")
    return out


def featureplex_cli_run(splits: dict, work: Path, run: dict) -> dict:
    """One `featureplex train train.parquet --validation valid.parquet --test test.parquet` (in-process CLI):
    its test metrics (metrics.json) and validation curve (history.json); `--select optfs` for the optfs variant."""
    import yaml

    from featureplex.pipelines.cli import run_command

    vocab_dir = featureplex_vocabulary(splits, work, run["config"])
    config = work / f"config-{run['key']}.yaml"
    train = {**run["config"].get("train", {}), "model_parameters": run["parameters"]}
    config.write_text(yaml.safe_dump({**run["config"], "train": train}))
    out = work / "model" / run["key"]  # a run's own: two invocations on one data set must not share it
    shutil.rmtree(out, ignore_errors=True)
    argv = ["train", splits["train"], "--validation", splits["valid"], "--test", splits["test"], "--vocab", str(vocab_dir),
            "--config", str(config), "--out", str(out), "--model", run["model"], "--seed", str(run["seed"]),
            "--allow-suspect-columns"] + (["--select", "optfs"] if run["variant"] == "optfs" else [])
    started = time.perf_counter()
    if run_command(argv) != 0:
        raise SystemExit(f"featureplex {' '.join(argv)} failed")
    seconds = time.perf_counter() - started
    trained = out / "final" if run["variant"] == "optfs" else out  # the select stage's final model
    metrics = json.loads((trained / "metrics.json").read_text())
    history = json.loads((trained / "history.json").read_text())
    extra = {}
    if run["variant"] == "optfs":
        selection = json.loads((out / "selection" / "optfs_metrics.json").read_text())
        extra = {"parameters_before": selection["parameters_before"], "parameters_after": selection["parameters_after"]}
    return {"test_auc": metrics["test_auc"], "test_logloss": metrics["test_logloss"], "best_epoch": metrics["best_epoch"],
            "epochs": len(history), "validation_auc": [r["val_auc"] for r in history], "seconds": seconds, **extra}


def featureplex_stage_run(splits: dict, work: Path, run: dict) -> dict:
    """One featureplex model through the train stage's steps without the SavedModel export and MLflow (`--via
    stage`): train + valid with `split_time` on valid, then the kept model scored on test."""
    import pyarrow.parquet as pq

    from featureplex.features.data.config import parse_config
    from featureplex.features.embedding.vocab_artifact import VocabArtifact
    from featureplex.models.input import split_streams, to_feature_dict
    from featureplex.models.training import train
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.select import select_optfs
    from featureplex.pipelines.training import assemble, training_options

    vocab_dir = featureplex_vocabulary(splits, work, run["config"])
    config = parse_config(run["config"])
    params = config.train.model_copy(update={"model": run["model"], "model_parameters": run["parameters"],
                                             "seed": run["seed"]})
    inputs = resolve_inputs(Path(splits["train_valid"]).parent, config).with_artifacts(vocab=VocabArtifact.read(vocab_dir))
    checkpoints = work / "model" / run["key"]  # a run's own: two invocations on one data set must not share it
    shutil.rmtree(checkpoints, ignore_errors=True)
    started = time.perf_counter()
    extra = {}
    if run["variant"] == "optfs":  # what `featureplex train --select optfs` runs, its final model kept
        selected = select_optfs(inputs, vocab_dir, checkpoints, params, config.optfs)
        model, raw_specs, history, best_epoch = (selected.final.model, selected.final.raw_specs, selected.final.history,
                                                 selected.final.best_epoch)
        extra = {"parameters_before": selected.parameters_before, "parameters_after": selected.parameters_after}
    else:
        assembled = assemble(inputs, params)
        streams = split_streams(inputs.dataset, inputs.schema, assembled.split, assembled.options)
        result = train(assembled.model, *streams, checkpoints, training_options(params))
        model, raw_specs, history, best_epoch = assembled.model, assembled.raw_specs, result.history, result.best_epoch
    seconds = time.perf_counter() - started
    features, labels = to_feature_dict(pq.read_table(splits["test"]), raw_specs, "label")
    scores = model(features, training=False).numpy()[:, 0].astype(np.float64)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return {**test_metrics(labels, scores), "best_epoch": best_epoch, "epochs": len(history),
            "validation_auc": [r["val_auc"] for r in history], "seconds": seconds, **extra}


def test_metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Exact AUC (ties count half) and logloss of logits `scores`."""
    from featureplex.models.metrics import grouped_auc

    probability = np.clip(1 / (1 + np.exp(-scores)), 1e-7, 1 - 1e-7)
    return {"test_auc": grouped_auc(np.zeros(len(labels)), labels, scores),
            "test_logloss": float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)))}


def fuxictr_spec(dataset: str, model: str, paths: dict, features: dict, run_dir: Path, args) -> dict:
    columns = fuxictr_feature_cols(features, args)
    for column in columns:
        if column["type"] == "sequence":
            column["max_len"] = args.max_length
            if model == "din":
                column["feature_encoder"] = None  # embeddings unpooled, for DIN_Attention (the others: mean)
    return {**SHARED, "model": model, "reduce_lr_on_plateau": True,
            "splits": {k: str(v) for k, v in paths.items()}, "work": str(run_dir),
            "dataset_id": f"{dataset}_{model.replace('+', '_plus')}", "feature_cols": columns,
            "label_col": {"name": "label", "dtype": "float"}, "min_categr_count": SHARED["min_count"], "loader": "npz",
            "threads": args.threads}


def run_fuxictr(dataset: str, model: str, paths: dict, features: dict, python: Path | None, args) -> list[dict]:
    """FuxiCTR's runs of one model, one result file per seed and settings: the seeds without one run in
    one child (on the same preprocessed arrays); without `python` (fuxictr not in --platforms) only those cached."""
    run_dir = args.work.resolve() / "runs" / dataset / "fuxictr" / model.replace("+", "_plus")
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = fuxictr_spec(dataset, model, paths, features, run_dir, args)
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    files = {seed: run_dir / f"result-{key}-seed{seed}.json" for seed in args.seeds}
    missing = [seed for seed, path in files.items() if args.fresh or not path.exists()]
    if missing and python and not args.report:
        subprocess.run(["rm", "-rf", run_dir / spec["dataset_id"], run_dir / "checkpoints"], check=True)
        spec_path, result_path = run_dir / "spec.json", run_dir / "result.json"
        spec_path.write_text(json.dumps({**spec, "seeds": missing}, indent=2))
        started = time.perf_counter()
        run_child([python, DRIVER, spec_path, result_path], run_dir / "log.txt", args.threads)
        print(f"  fuxictr {model}: {time.perf_counter() - started:.0f} s", flush=True)
        for run in json.loads(result_path.read_text())["runs"]:
            files[run["seed"]].write_text(json.dumps(run))
    runs = [json.loads(path.read_text()) for path in files.values() if path.exists()]
    for run in runs:
        run["epochs"] = len(run["validation_auc"])
        print(f"  fuxictr     {model:8s} seed {run['seed']}: test AUC {run['test_auc']:.4f}  logloss "
              f"{run['test_logloss']:.4f}  best epoch {best_epoch(run)} of {run['epochs']}", flush=True)
    return runs


def run_featureplex(dataset: str, paths: dict, features: dict, args) -> list[dict]:
    work = args.work.resolve() / "runs" / dataset / "featureplex"
    work.mkdir(parents=True, exist_ok=True)
    runs = featureplex_runs(features, args)
    spec_path, results_path = work / "spec.json", work / "results.jsonl"
    if args.fresh and not args.report and results_path.exists():  # drop the selected runs' results, keep the others
        wanted = {run["key"] for run in runs}
        kept = [line for line in results_path.read_text().splitlines() if json.loads(line)["key"] not in wanted]
        results_path.write_text("".join(line + "\n" for line in kept))
    if not args.report:
        spec_path.write_text(json.dumps({"work": str(work), "via": args.via, "splits": {k: str(v) for k, v in paths.items()},
                                         "runs": runs}))
        started = time.perf_counter()
        run_child([sys.executable, __file__, "--featureplex-run", spec_path, results_path], work / "log.txt", args.threads)
        print(f"  featureplex: {time.perf_counter() - started:.0f} s", flush=True)
    wanted = {run["key"] for run in runs}
    done = results_path.read_text().splitlines() if results_path.exists() else []
    return list({r["key"]: r for r in map(json.loads, done) if r["key"] in wanted}.values())  # a key rerun: the last


# ---------------------------------------------------------------- tables

def best_epoch(run: dict) -> int:
    """The kept epoch counted from 1 on both sides: the first best validation AUC (featureplex's history counts from 0)."""
    return int(np.argmax(run["validation_auc"])) + 1


def mean_sd(values: list[float]) -> tuple[float, float]:
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)


def summary(results: list[dict]) -> dict | None:
    if not results:
        return None
    auc, sd = mean_sd([r["test_auc"] for r in results])
    return {"auc": auc, "sd": sd, "logloss": mean_sd([r["test_logloss"] for r in results])[0],
            "best_epoch": mean_sd([best_epoch(r) for r in results])[0], "epochs": mean_sd([r["epochs"] for r in results])[0],
            "seeds": len(results)}


def cell(s: dict | None) -> str:
    return f"{s['auc']:.4f} ±{s['sd']:.4f} {s['logloss']:.4f} {s['best_epoch']:4.1f}/{s['epochs']:4.1f}" if s else "-"


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_tables(dataset: str, featureplex: list[dict], fuxictr: dict[str, list[dict]], models: list[str]) -> None:
    print(f"\n{dataset}: test AUC ±sd over seeds, logloss, best epoch / epochs run (means)")
    head = f"{'model':9s} | {'FuxiCTR':>35s} | {'featureplex (shared settings)':>35s} | {'diff':>7s} {'>= -0.001':>9s}"
    print(head + "\n" + "-" * len(head))
    by = {(r["variant"], r["model"]): [] for r in featureplex}
    for r in featureplex:
        by[(r["variant"], r["model"])].append(r)
    best = {"fuxictr": None, "featureplex": None}
    for model in models:
        fx, fp = summary(fuxictr.get(model, [])), summary(by.get(("shared", model), []))
        diff = fp["auc"] - fx["auc"] if fx and fp else math.nan
        ok = verdict(diff >= -AUC_MARGIN) if fx and fp else "-"
        print(f"{model:9s} | {cell(fx):>35s} | {cell(fp):>35s} | {diff:+7.4f} {ok:>9s}")
        for side, s in (("fuxictr", fx), ("featureplex", fp)):
            if s and (best[side] is None or s["auc"] > best[side][1]["auc"]):
                best[side] = (model, s)
    if best["fuxictr"] and best["featureplex"]:
        (fx_model, fx), (fp_model, fp) = best["fuxictr"], best["featureplex"]
        print(f"best vs best: featureplex {fp_model} {fp['auc']:.4f} vs FuxiCTR {fx_model} {fx['auc']:.4f}: "
              f"{fp['auc'] - fx['auc']:+.4f} ({verdict(fp['auc'] >= fx['auc'] - AUC_MARGIN)})")

    print(f"\n{dataset}: featureplex defaults (nothing set) vs its best of shared / defaults")
    head = f"{'model':9s} | {'defaults':>35s} | {'best':>8s} {'of':>8s} | {'defaults - best':>15s} {'>= -0.003':>9s}"
    print(head + "\n" + "-" * len(head))
    for model in models:
        defaults, shared = summary(by.get(("defaults", model), [])), summary(by.get(("shared", model), []))
        if not defaults:
            continue
        top, of = max(((s["auc"], name) for name, s in (("shared", shared), ("defaults", defaults)) if s))
        print(f"{model:9s} | {cell(defaults):>35s} | {top:8.4f} {of:>8s} | {defaults['auc'] - top:+15.4f} "
              f"{verdict(defaults['auc'] >= top - DEFAULTS_MARGIN):>9s}")

    optfs_models = [m for m in models if ("optfs", m) in by]
    if optfs_models:
        print(f"\n{dataset}: featureplex --select optfs (shared settings, optfs defaults) vs its unpruned shared model")
        head = (f"{'model':9s} | {'optfs':>35s} | {'unpruned':>8s} | {'diff':>7s} {'>= -0.002':>9s} | "
                f"{'embedding parameters':>22s}")
        print(head + "\n" + "-" * len(head))
        for model in optfs_models:
            pruned, full = summary(by[("optfs", model)]), summary(by.get(("shared", model), []))
            first = by[("optfs", model)][0]
            sizes = f"{first['parameters_before']:,} -> {first['parameters_after']:,}"
            print(f"{model:9s} | {cell(pruned):>35s} | {full['auc'] if full else math.nan:8.4f} | "
                  f"{pruned['auc'] - (full['auc'] if full else math.nan):+7.4f} "
                  f"{verdict(bool(full) and pruned['auc'] >= full['auc'] - OPTFS_MARGIN):>9s} | {sizes:>22s}")


def print_curves(dataset: str, featureplex: list[dict], fuxictr: dict[str, list[dict]]) -> None:
    """Validation AUC by epoch of seed 0 (or the first seed): which side converges when."""
    print(f"\n{dataset}: validation AUC by epoch, first seed")
    for model, runs in ((m, r) for m, r in fuxictr.items() if r):
        print(f"  fuxictr     {model:8s} " + " ".join(f"{v:.4f}" for v in runs[0]["validation_auc"]))
        for r in featureplex:
            if r["model"] == model and r["variant"] == "shared" and r["seed"] == runs[0]["seed"]:
                print(f"  featureplex {model:8s} " + " ".join(f"{v:.4f}" for v in r["validation_auc"]))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--featureplex-run":
        run_featureplex_child(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="din only on the data sets with a history")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--platforms", nargs="+", default=["featureplex", "fuxictr"], choices=["featureplex", "fuxictr"])
    parser.add_argument("--users", type=int, default=2000, help="users sampled from each Amazon set (0: all)")
    parser.add_argument("--max-length", type=int, default=20, help="history length of the Amazon CTR rows")
    parser.add_argument("--optfs", action="store_true",
                        help="also featureplex --select optfs (not din) against its unpruned model (goal: >= unpruned - 0.002)")
    parser.add_argument("--via", choices=["cli", "stage"], default="cli",
                        help="featureplex's side: its command line (train --validation --test), or the same train stage "
                             "steps in process without the SavedModel export and MLflow (minutes less per run)")
    parser.add_argument("--featureplex-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="set this in featureplex's config, every variant (repeatable; e.g. vocab.chunks=1, "
                             "train.adam_epsilon=1e-8): one difference at a time against FuxiCTR's cached results")
    parser.add_argument("--threads", type=int, default=1, help="compute threads of each platform; 0: their defaults")
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "ctr_parity")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench" / "fuxictr-venv")
    parser.add_argument("--variants", nargs="+", choices=("shared", "defaults"), default=["shared", "defaults"],
                        help="featureplex's variants to run and print")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun the selected runs (data sets, models, seeds, platforms) even where a result with the same "
                             "settings is there (the code changed); other results are kept")
    parser.add_argument("--report", action="store_true", help="run nothing: the tables of the results already there")
    parser.add_argument("--json", type=Path, default=None, help="also write every result as JSON")
    args = parser.parse_args()

    python = ensure_venv(args.venv.resolve()) if "fuxictr" in args.platforms and not args.report else None
    everything = {}
    for dataset in args.datasets:
        paths, features = prepare(dataset, args)
        models = models_for(features, args.models)
        print(f"{dataset}: " + ", ".join(f"{k} {pq_rows(v):,} rows" for k, v in paths.items() if k != "train_valid"), flush=True)
        fuxictr = {m: run_fuxictr(dataset, m, paths, features, python, args) for m in models}
        featureplex = run_featureplex(dataset, paths, features, args) if "featureplex" in args.platforms else []
        everything[dataset] = {"featureplex": featureplex, "fuxictr": fuxictr, "models": models}
    for dataset, found in everything.items():
        print_tables(dataset, found["featureplex"], found["fuxictr"], found["models"])
        print_curves(dataset, found["featureplex"], found["fuxictr"])
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


if __name__ == "__main__":
    main()
