"""Evaluating an embedder on labelled photos: reading the sets (labelled), the verification
metrics (metrics) and an HTML report (report, with the `eval` extra). Used by `facev3 evaluate` and
`facev3 calibrate`; nothing here runs a model."""
