"""The MLflow pyfunc model, logged from code: MLflow's tensorflow flavor cannot feed a multi-input
raw-feature signature, this wrapper can. It loads the SavedModel artifact and answers a DataFrame of
raw features (sequences as list cells) with `probability` and `logit` columns.
"""

from __future__ import annotations

import mlflow
import pandas as pd


class SavedModelPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from featureplex.serving.predictor import SavedModelPredictor

        self.predictor = SavedModelPredictor(context.artifacts["saved_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from featureplex.serving.predictor import columns_from_dataframe

        return pd.DataFrame(self.predictor.predict_columns(columns_from_dataframe(model_input)))


mlflow.models.set_model(SavedModelPyfunc())
