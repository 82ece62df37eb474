"""Evaluating an embedder on labelled photos: reading the labelled sets (labelled). Used by
`facev3 evaluate` and `facev3 calibrate`; nothing here runs a model."""
