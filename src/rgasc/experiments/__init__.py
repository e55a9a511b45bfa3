"""The paper's experiments: table settings, resumable multi-seed sweeps, baselines, tables."""
