"""featureplex vs FuxiCTR (PyTorch, CPU): the same DNN and AutoInt+ on the same Parquet splits.

Datasets: `synth` (`featureplex synth`, `--rows` rows) and `criteo` (the 10,000-row Criteo sample
in shared/data/criteo_10k, converted to Parquet here). Each is split once at random (seeded) into
train / valid / test = 80 / 10 / 10 and written as Parquet. Both platforms fit their vocabularies on
train only, train on train with early stopping on valid AUC (best epoch kept), and are scored on
test:

- featureplex: `build_vocabulary` on train.parquet, then `train_ctr_model` (the code `featureplex
  train` runs) on train + valid, its `split_time` putting exactly the valid rows in validation; test
  AUC from the best epoch's model on test.parquet.
- FuxiCTR: benchmarks/fuxictr_driver.py in its own virtual environment (`--venv`, created on first
  use with `pip install torch==2.13.0 fuxictr`, CPU build only): FeatureProcessor fit on train,
  BaseModel.fit, test AUC with the best checkpoint.

Shared configuration: embedding dimension, MLP hidden units, AutoInt+ attention (3 layers, 2 heads,
16 per head), batch size, Adam with a constant learning rate (featureplex's per-epoch decay set to
1, FuxiCTR's reduce-on-plateau off), the embedding L2 (`--embedding-l2`, featureplex's default on its
default layout, as FuxiCTR's embedding_regularizer: the same penalty over the whole table every step), epochs, patience 2,
minimum count 2 for a value to get its own embedding, seed. Each platform keeps its own embedding scheme (featureplex: the multiplexed table
with a hashed tail; FuxiCTR: a table per feature with an OOV row) and initialisers.

Throughput is training examples per second of wall-clock time, measured two ways for both:
`train pass` (the epoch's pass over the training rows) and `epoch` (train pass + validation pass +
checkpoint), over the steady-state epochs (all but the first, which pays for graph tracing / warm-up).

    .venv/bin/python benchmarks/train_vs_fuxictr.py                      # synth 1M rows and criteo
    .venv/bin/python benchmarks/train_vs_fuxictr.py --rows 200000 --datasets synth
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from featureplex.features.data.config import TrainParams

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DRIVER = REPO / "benchmarks" / "fuxictr_driver.py"
MODELS = ("dnn", "autoint+")
TORCH = "torch==2.13.0"
SPLIT_START = np.datetime64("2026-01-01T00:00:00", "s")
VALID_START = np.datetime64("2026-01-02T00:00:00", "s")
CRITEO_INTEGERS = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORIES = [f"C{i}" for i in range(1, 27)]
SYNTH_DROP = ("leak_label", "noise_row_id", "timestamp", "history_timestamps")  # a label copy, a row id, unused times


def shared_data() -> Path:
    if os.environ.get("FEATUREPLEX_SHARED_DATA"):
        return Path(os.environ["FEATUREPLEX_SHARED_DATA"])
    return REPO.parent / "shared" / "data"


# ---------------------------------------------------------------- the FuxiCTR environment

def ensure_venv(venv: Path) -> Path:
    """The FuxiCTR virtual environment (torch CPU build), created on first use."""
    python = venv / "bin" / "python"
    cpu_torch = "import torch; assert torch.version.cuda is None, torch.__version__"
    check = cpu_torch + "; import fuxictr"
    if python.exists() and subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} (pip install {TORCH} fuxictr) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    pip = [python, "-m", "pip", "install", "--quiet", "--only-binary", ":all:"]
    # torch alone first: the CPU wheel of this exact version is what pip must pick (a local +cpu
    # build sorts above PyPI's CUDA one); fail before fuxictr's dependencies are pulled if not
    subprocess.run([*pip, TORCH], check=True)
    built = subprocess.run([python, "-c", cpu_torch], capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"{venv}: pip installed a torch build with CUDA or none ({built.stderr.strip()[-300:]}); "
                         "point pip at a CPU wheel of torch 2.13.0 (--find-links) and run again")
    subprocess.run([*pip, TORCH, "fuxictr"], check=True)
    subprocess.run([python, "-c", check], check=True, capture_output=True)
    return python


# ---------------------------------------------------------------- data

def write_splits(table, root: Path, seed: int) -> dict[str, Path]:
    """train / valid / test Parquet (80/10/10, seeded), and train + valid for featureplex with `split_at`."""
    import pyarrow as pa

    draw = np.random.default_rng(seed).random(table.num_rows)
    masks = {"train": draw < 0.8, "valid": (draw >= 0.8) & (draw < 0.9), "test": draw >= 0.9}
    return write_parts({name: table.filter(pa.array(mask)) for name, mask in masks.items()}, root)


def write_parts(parts: dict, root: Path) -> dict[str, Path]:
    """`parts` (train / valid / test tables) as Parquet, each with `split_at` (train's before VALID_START,
    the others at it), and train + valid in one file for featureplex's `split_time`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in parts.items():
        start = VALID_START if name != "train" else SPLIT_START
        part = part.append_column("split_at", pa.array(np.full(part.num_rows, start), pa.timestamp("s")))
        paths[name] = root / f"{name}.parquet"
        pq.write_table(part, paths[name], row_group_size=100_000)
    (root / "train_valid").mkdir(exist_ok=True)
    paths["train_valid"] = root / "train_valid" / "part-00000.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(paths["train"]), pq.read_table(paths["valid"])]),
                   paths["train_valid"], row_group_size=100_000)
    return paths


def prepare_synth(work: Path, rows: int, seed: int) -> tuple[dict[str, Path], dict]:
    import pyarrow.parquet as pq

    from featureplex.pipelines.datasets.synth import generate_synthetic

    root = work / f"synth-{rows}"
    if not (root / "test.parquet").exists():
        generate_synthetic(root / "raw", rows=rows, seed=seed)
        table = pq.read_table(sorted((root / "raw").glob("*.parquet")))
        write_splits(table.drop_columns([c for c in SYNTH_DROP if c in table.column_names]), root, seed)
    paths = {name: root / f"{name}.parquet" for name in ("train", "valid", "test")}
    paths["train_valid"] = root / "train_valid" / "part-00000.parquet"
    schema = pq.read_schema(paths["train"])
    columns = [f for f in schema if f.name not in ("label", "split_at")]
    features = {
        "categorical": [f.name for f in columns if not str(f.type).startswith(("double", "float", "list"))],
        "numeric": [f.name for f in columns if str(f.type).startswith(("double", "float"))],
        "sequence": {"history_item_ids": "item_id"},
    }
    return paths, features


def prepare_criteo(work: Path, seed: int) -> tuple[dict[str, Path], dict]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    source = shared_data() / "criteo_10k" / "train_examples.txt"
    if not source.exists():
        raise SystemExit(f"{source}: not found (set FEATUREPLEX_SHARED_DATA to the shared data folder)")
    root = work / "criteo_10k"
    names = ["label", *CRITEO_INTEGERS, *CRITEO_CATEGORIES]
    if not (root / "test.parquet").exists():
        types = {"label": pa.int8(), **{c: pa.int64() for c in CRITEO_INTEGERS}, **{c: pa.string() for c in CRITEO_CATEGORIES}}
        table = pcsv.read_csv(source, read_options=pcsv.ReadOptions(column_names=names),
                              parse_options=pcsv.ParseOptions(delimiter="\t"),
                              convert_options=pcsv.ConvertOptions(column_types=types, null_values=[""],
                                                                  strings_can_be_null=True))
        write_splits(table, root, seed)
    paths = {name: root / f"{name}.parquet" for name in ("train", "valid", "test")}
    paths["train_valid"] = root / "train_valid" / "part-00000.parquet"
    # I1..I13 are counts: categorical in both platforms (featureplex infers integers as categorical)
    return paths, {"categorical": CRITEO_INTEGERS + CRITEO_CATEGORIES, "numeric": [], "sequence": {}}


# ---------------------------------------------------------------- featureplex

def featureplex_config(features: dict, args) -> str:
    lines = ["label: label", "timestamp: split_at", "features:"]
    for sequence, shared in features["sequence"].items():
        lines.append(f"  {sequence}: {{kind: sequence, shares_with: {shared}}}")
    if not features["sequence"]:
        lines[-1] = "features: {}"
    lines += [
        f"vocab: {{dimension: {args.embedding_dim}, min_count: {args.min_count}}}",
        "train:",
        f"  split_time: '{VALID_START.astype(str)}'",
        "  learning_rate_decay: 1.0",
        f"  patience: {args.patience}",
    ]
    return "\n".join(lines) + "\n"


def featureplex_parameters(model: str, args) -> dict:
    if model == "dnn":
        return {"hidden_units": args.hidden_units}
    return {"attention_layers": args.attention_layers, "heads": args.heads, "attention_dim": args.head_dim,
            "dnn_units": args.hidden_units}


def run_featureplex(spec_path: Path, result_path: Path) -> None:
    """Child process: vocab on train, train on train + valid (valid = validation), score test."""
    spec = json.loads(spec_path.read_text())
    work = Path(spec["work"])
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")
    os.chdir(work)
    import pyarrow.parquet as pq

    from featureplex.models.input import to_feature_dict
    from featureplex.models.metrics import grouped_auc
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.train import train_ctr_model
    from featureplex.pipelines.stages.vocab import build_vocabulary

    config = work / "config.yaml"
    config.write_text(spec["config"])
    started = time.perf_counter()
    vocab = work / "vocab"
    if not (vocab / "layout.json").exists():
        build_vocabulary(spec["splits"]["train"], config, vocab)
    vocab_seconds = time.perf_counter() - started

    inputs = resolve_inputs(str(Path(spec["splits"]["train_valid"]).parent), str(config), None)
    params = inputs.config.train.model_copy(update={
        "model": spec["model"], "model_parameters": spec["parameters"], "epochs": spec["epochs"],
        "batch_size": spec["batch_size"], "learning_rate": spec["learning_rate"], "seed": spec["seed"],
        "embedding_l2": spec["embedding_l2"],
    })
    epoch_ends, train_seconds, validation_auc = [], [], []

    def record(epoch: int, metrics: dict) -> None:
        epoch_ends.append(time.perf_counter())
        train_seconds.append(metrics["train_seconds"])
        validation_auc.append(metrics["val_auc"])

    out = work / "model"
    started = time.perf_counter()
    outcome = train_ctr_model(inputs, str(vocab), out, params, on_epoch_end=record)
    total_seconds = time.perf_counter() - started

    test = pq.read_table(spec["splits"]["test"])
    labels, scores = [], []
    for start in range(0, test.num_rows, 8192):
        features, label = to_feature_dict(test.slice(start, 8192), outcome.raw_specs, "label")
        scores.append(outcome.model(features, training=False).numpy()[:, 0])
        labels.append(label)
    labels, scores = np.concatenate(labels), np.concatenate(scores)
    probability = np.clip(1 / (1 + np.exp(-scores.astype(np.float64))), 1e-7, 1 - 1e-7)
    train_rows = pq.read_metadata(spec["splits"]["train"]).num_rows
    result_path.write_text(json.dumps({
        "test_auc": grouped_auc(np.zeros(len(labels)), labels, scores),
        "test_logloss": float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))),
        "validation_auc": validation_auc,
        "train_rows": train_rows,
        # the first epoch counted from the start of train_ctr_model: setup and tracing, dropped by `steady`
        "epoch_seconds": [b - a for a, b in zip([started, *epoch_ends], epoch_ends)],
        "train_seconds": train_seconds,
        "fit_seconds": total_seconds,
        "preprocess_seconds": vocab_seconds,
        "parameters": int(outcome.model.count_params()),
        "best_epoch": outcome.best_epoch,
    }, indent=2))


# ---------------------------------------------------------------- FuxiCTR

def fuxictr_feature_cols(features: dict, args) -> list[dict]:
    cols = [{"name": name, "active": True, "dtype": "str", "type": "categorical"} for name in features["categorical"]]
    cols += [{"name": name, "active": True, "dtype": "float", "type": "numeric", "normalizer": "StandardScaler"}
             for name in features["numeric"]]
    cols += [{"name": name, "active": True, "dtype": "str", "type": "sequence", "share_embedding": shared,
              "splitter": "^", "max_len": 50, "padding": "post"} for name, shared in features["sequence"].items()]
    return cols


# ---------------------------------------------------------------- comparison

def steady(values: list[float]) -> float:
    """Median over the steady-state epochs (all but the first when there are several)."""
    values = values[1:] if len(values) > 1 else values
    return float(np.median(values)) if values else float("nan")


def thread_environment(threads: int) -> dict[str, str]:
    """Both platforms' compute threads. OpenMP threads that spin while waiting (torch's default) slow
    to a crawl when other processes share the cores (measured here: 8 FuxiCTR DNN steps took 7 s with
    2 spinning threads, 0.6 s with passive waiting), so they wait passively."""
    if threads <= 0:
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads),
            "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)}


def run_child(command: list, log: Path, threads: int) -> None:
    with open(log, "w") as output:
        finished = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO,
                                  env={**os.environ, "PYTHONPATH": str(REPO), **thread_environment(threads)})
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command[:3]))} failed (exit {finished.returncode}); see {log}:\n"
                         + "".join(log.read_text().splitlines(keepends=True)[-15:]))


def shared_spec(model: str, paths: dict[str, Path], run_dir: Path, args) -> dict:
    """The part of a run's spec both platforms read: model, training budget, seed, splits, work folder."""
    return {"model": model, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "seed": args.seed, "patience": args.patience, "embedding_l2": args.embedding_l2,
            "splits": {k: str(v) for k, v in paths.items()},
            "work": str(run_dir)}


def run_platform(label: str, platform: str, spec: dict, run_dir: Path, fuxictr_python: Path | None, threads: int,
                 reuse: bool = False) -> dict:
    """Run one platform on `spec` in a child process (featureplex: `run_featureplex`; FuxiCTR: the driver in
    its venv) and return its result; with `reuse`, an identical earlier spec's result is read instead."""
    spec_path, result_path = run_dir / "spec.json", run_dir / "result.json"
    if platform == "featureplex":
        stale = ["model", "mlflow.db", "mlruns"]
        command = [sys.executable, __file__, "--featureplex-run", spec_path, result_path]
    else:
        stale = [spec["dataset_id"], "checkpoints"]
        command = [fuxictr_python, DRIVER, spec_path, result_path]
    text = json.dumps(spec, indent=2)
    reused = reuse and result_path.exists() and spec_path.exists() and spec_path.read_text() == text
    print(f"{label} {platform}{' (result of an identical earlier run)' if reused else ' ...'}", flush=True)
    if not reused:
        subprocess.run(["rm", "-rf", result_path, *(run_dir / name for name in stale)], check=True)
        spec_path.write_text(text)
        run_child(command, run_dir / "log.txt", threads)
    r = json.loads(result_path.read_text())
    print(f"  test AUC {r['test_auc']:.4f}  logloss {r['test_logloss']:.4f}  valid AUC by epoch "
          f"{' '.join(f'{v:.4f}' for v in r['validation_auc'])}  train pass "
          f"{r['train_rows'] / steady(r['train_seconds']):,.0f} ex/s  ({r['fit_seconds']:.0f}s)", flush=True)
    return r


def compare(dataset: str, paths: dict[str, Path], features: dict, args, fuxictr_python: Path, work: Path) -> list[dict]:
    rows = []
    for model in args.models:
        results = {}
        for platform in args.platforms:
            run_dir = work / "runs" / dataset / model.replace("+", "_plus") / platform
            run_dir.mkdir(parents=True, exist_ok=True)
            spec = shared_spec(model, paths, run_dir, args)
            if platform == "featureplex":
                spec.update(config=featureplex_config(features, args), parameters=featureplex_parameters(model, args),
                            threads=args.threads)
            else:
                spec.update({"dataset_id": f"{dataset}_{model.replace('+', '_plus')}",
                             "feature_cols": fuxictr_feature_cols(features, args),
                             "label_col": {"name": "label", "dtype": "float"}, "min_categr_count": args.min_count,
                             "loader": args.fuxictr_loader, "embedding_dim": args.embedding_dim,
                             "hidden_units": args.hidden_units, "attention_layers": args.attention_layers,
                             "heads": args.heads, "head_dim": args.head_dim, "threads": args.threads})
            results[platform] = run_platform(f"{dataset} {model}", platform, spec, run_dir, fuxictr_python,
                                             args.threads, args.reuse)
        rows.append({"dataset": dataset, "model": model, **results})
    return rows


def print_summary(rows: list[dict], platforms: list[str]) -> None:
    print("\ntest AUC, logloss and training examples/s (steady-state epochs); ratio = featureplex / FuxiCTR")
    header = (f"{'dataset':14s} {'model':9s} | {'AUC fp':>7s} {'AUC fx':>7s} {'diff':>7s} | {'ll fp':>6s} {'ll fx':>6s} | "
              f"{'train-pass ex/s fp':>18s} {'fx':>8s} {'ratio':>5s} | {'epoch ex/s fp':>13s} {'fx':>8s} {'ratio':>5s}")
    print(header + "\n" + "-" * len(header))
    for row in rows:
        fp, fx = row.get("featureplex"), row.get("fuxictr")
        def get(r, key, fmt):
            return format(r[key], fmt) if r else "-"

        def rate(r, key):
            return r["train_rows"] / steady(r[key]) if r and r[key] else float("nan")

        diff = f"{fp['test_auc'] - fx['test_auc']:+.4f}" if fp and fx else "-"
        fp_pass, fx_pass = rate(fp, "train_seconds"), rate(fx, "train_seconds")
        fp_epoch, fx_epoch = rate(fp, "epoch_seconds"), rate(fx, "epoch_seconds")
        print(f"{row['dataset']:14s} {row['model']:9s} | {get(fp, 'test_auc', '.4f'):>7s} {get(fx, 'test_auc', '.4f'):>7s} "
              f"{diff:>7s} | {get(fp, 'test_logloss', '.4f'):>6s} {get(fx, 'test_logloss', '.4f'):>6s} | "
              f"{fp_pass:18,.0f} {fx_pass:8,.0f} {fp_pass / fx_pass:5.2f} | {fp_epoch:13,.0f} {fx_epoch:8,.0f} {fp_epoch / fx_epoch:5.2f}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--featureplex-run":
        run_featureplex(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (before the 80/10/10 split)")
    parser.add_argument("--datasets", nargs="+", default=["synth", "criteo"], choices=["synth", "criteo"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--platforms", nargs="+", default=["featureplex", "fuxictr"], choices=["featureplex", "fuxictr"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-units", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--attention-layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=16)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--embedding-l2", type=float, default=TrainParams().embedding_l2_on("collisionless"),
                        help="both platforms' embedding L2 (FuxiCTR's embedding_regularizer scaling); default: featureplex's "
                             "on the collisionless layout its default vocabulary is")
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="compute threads of each platform (TensorFlow intra/inter-op, torch); 0: their defaults")
    parser.add_argument("--fuxictr-loader", choices=["npz", "parquet"], default="npz",
                        help="FuxiCTR's in-memory npz loader (its fastest) or its Ray Parquet loader")
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "train_vs_fuxictr")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench" / "fuxictr-venv")
    parser.add_argument("--json", type=Path, default=None, help="also write every result as JSON")
    parser.add_argument("--reuse", action="store_true", help="reuse a run's result when its spec is unchanged")
    args = parser.parse_args()

    work = args.work.resolve()
    fuxictr_python = ensure_venv(args.venv.resolve()) if "fuxictr" in args.platforms else None
    rows = []
    for dataset in args.datasets:
        paths, features = prepare_synth(work, args.rows, args.seed) if dataset == "synth" else prepare_criteo(work, args.seed)
        rows += compare(dataset if dataset == "criteo" else f"synth-{args.rows // 1000}k", paths, features, args,
                        fuxictr_python, work)
    print_summary(rows, args.platforms)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
