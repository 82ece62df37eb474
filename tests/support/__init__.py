"""Helpers shared by the tests and the benchmarks: the test photos, real HTTP servers on loopback
and deterministic embeddings."""
