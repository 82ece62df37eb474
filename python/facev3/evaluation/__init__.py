"""Evaluating an embedder on labelled photos: reading the labelled sets (labelled) and the
verification metrics (metrics). Used by `facev3 evaluate` and `facev3 calibrate`; nothing here
runs a model."""
