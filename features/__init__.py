"""Pure feature math: schema, config, statistics, OutRank scores, vocabularies, layouts.

numpy / pyarrow / polars only: nothing here imports Beam or TensorFlow.
"""
