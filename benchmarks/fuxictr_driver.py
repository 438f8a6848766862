"""FuxiCTR's side of benchmarks/train_vs_fuxictr.py: run inside the FuxiCTR virtual environment.

    fuxictr-venv/bin/python benchmarks/fuxictr_driver.py SPEC.json RESULT.json

SPEC gives the Parquet splits (train / valid / test), the feature columns in FuxiCTR's own
feature-spec form, the model (`dnn`, `dcn`, `deepfm`, `autoint+` or `din`) and the shared
hyper-parameters (optional: `dropout` and `batch_norm` of every MLP, `embedding_l2` = FuxiCTR's
embedding_regularizer, `reduce_lr_on_plateau`; with `seeds`, one model per seed on the same arrays and
RESULT = {"runs": [one result per seed]}). The driver
does what FuxiCTR's `build_dataset` does (FeatureProcessor.preprocess, fit on the training split,
transform every split to ids) without Ray, writes the `npz` arrays FuxiCTR's in-memory loader reads
(or Parquet for its Ray loader), then trains with FuxiCTR's own `BaseModel.fit` (Adam, gradient
norm clipped at 10, validation AUC every epoch, best checkpoint, early stopping) and scores the test
split with the best weights.

The models are written here from FuxiCTR's library layers (the pip package ships no model zoo):
- DNN: logit = MLP(concat of the field embeddings), as FuxiCTR's model_zoo DNN.
- DCN-v2: `CrossNetV2` (`cross_layers` full-rank layers) and a parallel MLP on the concatenated
  embeddings, a linear logit on both, as FuxiCTR's DCNv2 with `model_structure: parallel`.
- DeepFM: FuxiCTR's `FactorizationMachine` (its LR term plus the pairwise inner products) plus an MLP
  logit on the concatenated embeddings, as FuxiCTR's DeepFM.
- AutoInt+: `attention_layers` multi-head self-attention layers over the field embeddings
  (attention width `heads * head_dim`, no 1/sqrt(d) scaling, residual through a linear map when the
  width changes and the identity otherwise, ReLU), a linear logit on their flattened output, plus an
  MLP logit on the flattened embeddings, as FuxiCTR's AutoInt with `dnn_hidden_units`.
- DIN (benchmarks/din_vs_fuxictr.py): each `sequence` feature (given `share_embedding` with its
  candidate and `feature_encoder: null`, so its embeddings stay unpooled) pooled by `DIN_Attention`
  over the candidate's embedding, padding masked, then an MLP logit on every field's embedding, as
  FuxiCTR's model_zoo DIN.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import numpy as np
import polars as pl
import torch
from fuxictr.preprocess import FeatureProcessor
from fuxictr.pytorch.dataloaders import RankDataLoader
from fuxictr.pytorch.layers import (
    CrossNetV2,
    DIN_Attention,
    FactorizationMachine,
    FeatureEmbedding,
    FeatureEmbeddingDict,
    MLP_Block,
    ScaledDotProductAttention,
)
from fuxictr.pytorch.models import BaseModel
from fuxictr.pytorch.torch_utils import seed_everything
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn


class TimedModel(BaseModel):
    """BaseModel whose fit loop records each epoch's training time (up to its validation pass) and total time."""

    def train_epoch(self, data_generator):
        self._epoch_started = time.perf_counter()
        super().train_epoch(data_generator)
        self.epoch_seconds.append(time.perf_counter() - self._epoch_started)

    def eval_step(self):
        self.train_seconds.append(time.perf_counter() - self._epoch_started)
        super().eval_step()
        self.validation_auc.append(self._monitor_value)

    def checkpoint_and_earlystop(self, logs, min_delta=1e-6):
        self._monitor_value = self._monitor.get_value(logs)
        super().checkpoint_and_earlystop(logs, min_delta)

    def ready(self, learning_rate, kwargs):
        """The end of every FuxiCTR model_zoo `__init__`: optimizer and loss, its initialisers, the device."""
        self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
        self.reset_parameters()
        self.model_to_device()


class Dnn(TimedModel):
    def __init__(self, feature_map, embedding_dim, hidden_units, learning_rate, mlp_options, **kwargs):
        super().__init__(feature_map, model_id="DNN", **kwargs)
        self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
        self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=hidden_units,
                             hidden_activations="ReLU", output_activation=self.output_activation, **mlp_options)
        self.ready(learning_rate, kwargs)

    def forward(self, inputs):
        fields = self.embedding_layer(self.get_inputs(inputs), flatten_emb=True)
        return {"y_pred": self.mlp(fields)}


class DcnV2(TimedModel):
    def __init__(self, feature_map, embedding_dim, hidden_units, learning_rate, mlp_options, cross_layers, **kwargs):
        super().__init__(feature_map, model_id="DCNv2", **kwargs)
        self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
        width = feature_map.sum_emb_out_dim()
        self.crossnet = CrossNetV2(width, cross_layers)
        self.mlp = MLP_Block(input_dim=width, output_dim=None, hidden_units=hidden_units, hidden_activations="ReLU",
                             **mlp_options)
        self.fc = nn.Linear(width + hidden_units[-1], 1)
        self.ready(learning_rate, kwargs)

    def forward(self, inputs):
        fields = self.embedding_layer(self.get_inputs(inputs), flatten_emb=True)
        logit = self.fc(torch.cat([self.crossnet(fields), self.mlp(fields)], dim=-1))
        return {"y_pred": self.output_activation(logit)}


class DeepFm(TimedModel):
    def __init__(self, feature_map, embedding_dim, hidden_units, learning_rate, mlp_options, **kwargs):
        super().__init__(feature_map, model_id="DeepFM", **kwargs)
        self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
        self.fm = FactorizationMachine(feature_map)
        self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=hidden_units,
                             hidden_activations="ReLU", output_activation=None, **mlp_options)
        self.ready(learning_rate, kwargs)

    def forward(self, inputs):
        features = self.get_inputs(inputs)
        fields = self.embedding_layer(features)
        logit = self.fm(features, fields) + self.mlp(fields.flatten(start_dim=1))
        return {"y_pred": self.output_activation(logit)}


class SelfAttentionLayer(nn.Module):
    """relu(concat_h softmax(Q_h K_h^T) V_h + residual), residual = X W_res if the width changes, else X."""

    def __init__(self, input_dim, width, heads):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.query, self.key, self.value = (nn.Linear(input_dim, width, bias=False) for _ in range(3))
        self.residual = nn.Linear(input_dim, width, bias=False) if input_dim != width else None
        self.attention = ScaledDotProductAttention()

    def forward(self, fields):
        batch = fields.size(0)

        def heads(tensor):
            return tensor.view(batch, -1, self.heads, self.head_dim).transpose(1, 2)

        attended, _ = self.attention(heads(self.query(fields)), heads(self.key(fields)), heads(self.value(fields)), scale=None)
        merged = attended.transpose(1, 2).contiguous().view(batch, -1, self.heads * self.head_dim)
        return (merged + (self.residual(fields) if self.residual is not None else fields)).relu()


class AutoIntPlus(TimedModel):
    def __init__(self, feature_map, embedding_dim, hidden_units, learning_rate, mlp_options, attention_layers, heads,
                 head_dim, **kwargs):
        super().__init__(feature_map, model_id="AutoIntPlus", **kwargs)
        width = heads * head_dim
        self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
        self.attention = nn.Sequential(*[SelfAttentionLayer(embedding_dim if i == 0 else width, width, heads)
                                         for i in range(attention_layers)])
        self.attention_logit = nn.Linear(feature_map.num_fields * width, 1)
        self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=hidden_units,
                             hidden_activations="ReLU", output_activation=None, **mlp_options)
        self.ready(learning_rate, kwargs)

    def forward(self, inputs):
        fields = self.embedding_layer(self.get_inputs(inputs))
        logit = self.attention_logit(torch.flatten(self.attention(fields), start_dim=1))
        logit = logit + self.mlp(fields.flatten(start_dim=1))
        return {"y_pred": self.output_activation(logit)}


class Din(TimedModel):
    def __init__(self, feature_map, embedding_dim, hidden_units, learning_rate, mlp_options, hidden_activation,
                 attention_units, attention_activation, **kwargs):
        super().__init__(feature_map, model_id="DIN", **kwargs)
        self.candidates = {name: feature["share_embedding"] for name, feature in feature_map.features.items()
                           if feature["type"] == "sequence"}
        self.embedding_layer = FeatureEmbeddingDict(feature_map, embedding_dim)
        self.attention = nn.ModuleDict({name: DIN_Attention(embedding_dim, attention_units, attention_activation,
                                                            use_softmax=False) for name in self.candidates})
        self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=hidden_units,
                             hidden_activations=hidden_activation, output_activation=self.output_activation,
                             **mlp_options)
        self.ready(learning_rate, kwargs)

    def forward(self, inputs):
        features = self.get_inputs(inputs)
        embeddings = self.embedding_layer(features)  # a sequence's: [batch, max_len, dim]
        for sequence, candidate in self.candidates.items():
            valid = features[sequence].long() != self.feature_map.features[sequence]["padding_idx"]
            embeddings[sequence] = self.attention[sequence](embeddings[candidate], embeddings[sequence], valid)
        return {"y_pred": self.mlp(self.embedding_layer.dict2tensor(embeddings, flatten_emb=True))}


def build_arrays(spec: dict, data_dir: str) -> tuple[object, dict[str, str], float]:
    """Fit FuxiCTR's FeatureProcessor on the training split and write every split as ids."""
    processor = FeatureProcessor(feature_cols=spec["feature_cols"], label_col=spec["label_col"],
                                 dataset_id=spec["dataset_id"], data_root=data_dir)
    started = time.perf_counter()
    frames = {}
    for split in ("train", "valid", "test"):
        frame = pl.scan_parquet(spec["splits"][split])
        # as FuxiCTR's csv input types them (`dtype: str`): categorical columns as strings, sequences
        # "^"-joined (its Parquet path fills nulls with "" before joining lists, which polars refuses)
        frame = frame.with_columns(
            [pl.col(c["name"]).cast(pl.String) for c in spec["feature_cols"] if c["type"] == "categorical"]
            + [pl.col(c["name"]).cast(pl.List(pl.String)).list.join(c["splitter"])
               for c in spec["feature_cols"] if c["type"] == "sequence"]
        )
        frames[split] = processor.preprocess(frame)
    processor.fit(frames["train"], min_categr_count=spec["min_categr_count"], rebuild_dataset=True)
    paths = {}
    for split, frame in frames.items():
        collected = frame.collect()
        batch = {name: collected[name].to_numpy() for name in collected.columns}
        arrays = processor.transform(batch)
        if spec["loader"] == "npz":
            paths[split] = os.path.join(processor.data_dir, f"{split}.npz")
            np.savez(paths[split], **arrays)
        else:
            paths[split] = os.path.join(processor.data_dir, f"{split}.parquet")
            pl.DataFrame({k: (list(v) if np.ndim(v) > 1 else v) for k, v in arrays.items()}).write_parquet(paths[split])
    return processor.feature_map, paths, time.perf_counter() - started


MODELS = {"dnn": Dnn, "dcn": DcnV2, "deepfm": DeepFm, "autoint+": AutoIntPlus, "din": Din}
MODEL_ARGUMENTS = {  # each model's own spec keys, beyond embedding_dim, hidden_units and learning_rate
    "dcn": ("cross_layers",), "autoint+": ("attention_layers", "heads", "head_dim"),
    "din": ("hidden_activation", "attention_units", "attention_activation"),
}


def build_model(spec: dict, feature_map) -> TimedModel:
    embedding_l2 = float(spec.get("embedding_l2", 0.0))
    common = dict(gpu=-1, optimizer="adam", loss="binary_crossentropy", metrics=["AUC", "logloss"], monitor="AUC",
                  monitor_mode="max", early_stop_patience=spec["patience"],
                  reduce_lr_on_plateau=spec.get("reduce_lr_on_plateau", False),
                  embedding_regularizer=embedding_l2 or None, net_regularizer=None, verbose=0,
                  model_root=os.path.join(spec["work"], "checkpoints"))
    mlp_options = {"dropout_rates": spec.get("dropout", 0.0), "batch_norm": spec.get("batch_norm", False)}
    own = {name: spec[name] for name in MODEL_ARGUMENTS.get(spec["model"], ())}
    return MODELS[spec["model"]](feature_map, spec["embedding_dim"], spec["hidden_units"], spec["learning_rate"],
                                 mlp_options, **own, **common)


def train_and_test(spec: dict, feature_map, paths: dict[str, str], seed: int) -> dict:
    """One model fitted with FuxiCTR's `fit` (best checkpoint reloaded) and scored on the test split."""
    seed_everything(seed)
    train_gen, valid_gen, test_gen = RankDataLoader(
        feature_map, stage="both", train_data=paths["train"], valid_data=paths["valid"], test_data=paths["test"],
        batch_size=spec["batch_size"], shuffle=True, data_format=spec["loader"],
    )
    model = build_model(spec, feature_map)
    os.makedirs(model.model_dir, exist_ok=True)  # FuxiCTR's run_expid.py creates it
    model.epoch_seconds, model.train_seconds, model.validation_auc = [], [], []
    started = time.perf_counter()
    model.fit(train_gen, epochs=spec["epochs"], validation_data=valid_gen)
    fit_seconds = time.perf_counter() - started
    labels = np.concatenate([batch[feature_map.labels[0]].numpy().reshape(-1) for batch in test_gen])
    predictions = model.predict(test_gen)
    return {
        "seed": seed,
        "test_auc": float(roc_auc_score(labels, predictions)),
        "test_logloss": float(log_loss(labels, np.clip(predictions, 1e-7, 1 - 1e-7))),
        "validation_auc": [float(v) for v in model.validation_auc],
        "train_rows": int(train_gen.num_samples),
        "epoch_seconds": model.epoch_seconds,
        "train_seconds": model.train_seconds,
        "fit_seconds": fit_seconds,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    logging.basicConfig(level=logging.WARNING)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    feature_map, paths, preprocess_seconds = build_arrays(spec, spec["work"])
    feature_map.default_emb_dim = spec["embedding_dim"]  # what FeatureMap.load sets from the model's params
    runs = [{**train_and_test(spec, feature_map, paths, seed), "preprocess_seconds": preprocess_seconds}
            for seed in spec.get("seeds", [spec.get("seed")])]
    with open(sys.argv[2], "w") as out:
        json.dump({"runs": runs} if "seeds" in spec else runs[0], out, indent=2)


if __name__ == "__main__":
    main()
