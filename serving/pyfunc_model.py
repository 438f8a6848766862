"""The MLflow pyfunc model, logged from code: MLflow's tensorflow flavor cannot feed a multi-input
raw-feature signature, this wrapper can. It loads the SavedModel artifact and answers a DataFrame of
raw features (sequences as list cells) with `probability` and `logit` columns.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd


class SavedModelPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from serving.predictor import SavedModelPredictor

        self.predictor = SavedModelPredictor(context.artifacts["saved_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        columns = {
            name: [value.tolist() if isinstance(value, np.ndarray) else value for value in model_input[name]]
            for name in model_input.columns
        }
        columns = {name: [None if _is_missing(v) else v for v in values] for name, values in columns.items()}
        return pd.DataFrame(self.predictor.predict_columns(columns))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


mlflow.models.set_model(SavedModelPyfunc())
