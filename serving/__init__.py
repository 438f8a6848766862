"""SavedModel export with a raw-feature signature, the MLflow pyfunc wrapper, the REST server."""
