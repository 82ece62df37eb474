"""The test suite (pytest). tests/support holds helpers the benchmarks use too."""
