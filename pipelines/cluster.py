"""The worker cluster a training process belongs to, as TensorFlow's `TF_CONFIG` names it (Vertex AI,
Kubernetes' TFJob, or `featureplex train --workers N` for local processes).

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.5:2222", "10.0.0.6:2222"]}, "task": {"type": "worker", "index": 1}}'

A `chief` list, when given, comes before the workers (rank 0); without one, worker 0 is the chief. The
chief writes the checkpoints, the history, the exported model and the MLflow run; every other worker
trains on its share of the data only. Parsed without importing TensorFlow, so a bad TF_CONFIG is one
line before any data is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

from featureplex.features.errors import InputError

ROLES = ("chief", "worker")  # what MultiWorkerMirroredStrategy runs; "ps" / "evaluator" are other strategies'


@dataclass(frozen=True)
class WorkerCluster:
    """Every task's host:port in rank order (the chief first) and this process's rank."""

    addresses: tuple[str, ...]
    rank: int

    @property
    def size(self) -> int:
        return len(self.addresses)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> WorkerCluster | None:
        """The cluster `TF_CONFIG` names; None without TF_CONFIG or with a cluster of one task."""
        text = environ.get("TF_CONFIG", "").strip()
        if not text:
            return None
        cluster = parse_tf_config(text)
        return cluster if cluster.size > 1 else None


def parse_tf_config(text: str) -> WorkerCluster:
    """TF_CONFIG's JSON -> WorkerCluster; an InputError naming the field that is wrong."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"TF_CONFIG: not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise InputError('TF_CONFIG: expected {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}')
    cluster, task = config["cluster"], config.get("task")
    others = sorted(set(cluster) - set(ROLES))
    if others:
        raise InputError(f"TF_CONFIG: cluster.{others[0]}: not supported (MultiWorkerMirroredStrategy runs chief and worker tasks only)")
    addresses: list[str] = []
    for role in ROLES:
        hosts = cluster.get(role, [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h.rpartition(":")[2].isdigit() for h in hosts):
            raise InputError(f"TF_CONFIG: cluster.{role}: expected a list of 'host:port' strings (got {hosts!r})")
        addresses.extend(hosts)
    if len(cluster.get("chief", [])) > 1:
        raise InputError(f"TF_CONFIG: cluster.chief: at most one chief (got {len(cluster['chief'])})")
    if not addresses:
        raise InputError("TF_CONFIG: cluster: no worker addresses")
    if not isinstance(task, dict) or task.get("type") not in ROLES:
        raise InputError(f"TF_CONFIG: task.type: expected 'chief' or 'worker' (got {None if not isinstance(task, dict) else task.get('type')!r})")
    index, hosts = task.get("index", 0), cluster.get(task["type"], [])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(hosts):
        raise InputError(f"TF_CONFIG: task.index: expected 0..{len(hosts) - 1} for {len(hosts)} {task['type']} task(s) (got {index!r})")
    rank = index if task["type"] == "chief" else len(cluster.get("chief", [])) + index
    return WorkerCluster(tuple(addresses), rank)


def tf_config(addresses: list[str], rank: int) -> str:
    """The TF_CONFIG of worker `rank` in a cluster of workers only (worker 0 the chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}})


def available_memory() -> int:
    """Bytes of memory this host can still give (`MemAvailable` of /proc/meminfo, else the physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# bytes per embedding parameter on each worker: the float32 weight, its all-reduced gradient (dense: the
# multiplexed table's gradient is summed densely) and Adam's two moments
TRAINING_BYTES_PER_PARAMETER = 4 * 4


def check_cluster_fits(cluster: WorkerCluster, batch_size: int, row_groups: int, layout,
                       available: int | None = None) -> None:
    """What training on `cluster` needs, each an InputError before TensorFlow starts: the global batch split
    evenly, a row group for every worker (each reads whole row groups), and the embedding table, mirrored
    on every worker, within the memory available to the workers on this host (`available` bytes, this
    host's by default; `layout`: features.embedding.layout.Layout)."""
    if batch_size % cluster.size:
        raise InputError(f"train.batch_size: {batch_size} rows per step do not split evenly over {cluster.size} workers "
                         f"(each trains on batch_size / workers rows); give a multiple of {cluster.size}")
    if row_groups < cluster.size:
        raise InputError(f"DATA: {row_groups} Parquet row group(s) for {cluster.size} workers; each worker reads whole "
                         f"row groups: write the data with at least {cluster.size} (smaller row_group_size)")
    host = cluster.addresses[cluster.rank].rpartition(":")[0]
    sharing = sum(address.rpartition(":")[0] == host for address in cluster.addresses)
    share = (available_memory() if available is None else available) // sharing
    needed = layout.parameters * TRAINING_BYTES_PER_PARAMETER
    if needed > share:
        raise InputError(
            f"vocab layout (mode '{layout.mode}', {layout.rows} rows x {layout.dimension}): the embedding table is "
            f"{layout.parameters} parameters, {layout.parameters * 4:,} bytes; every worker holds it with its gradient "
            f"and Adam's two moments, {needed:,} bytes, more than the {share:,} bytes of memory each of the {sharing} "
            "worker(s) on this host has; build the vocab with a budget (vocab.budget_parameters or "
            "vocab.budget_rows, any mode) to bound the table (a table sharded over parameter servers is not supported)")
