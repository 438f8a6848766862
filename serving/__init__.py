"""SavedModel export with a raw-feature signature, the MLflow pyfunc wrapper, the REST server."""
import featureplex.models  # noqa: F401  (serving runs TensorFlow: Keras 2 is selected there first)
