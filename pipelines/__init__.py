"""What a user runs: Beam feature pipelines, training and export flows, the synthetic data generator, the CLI."""

__version__ = "0.1.0"
