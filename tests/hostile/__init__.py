"""The hostile-input suite (issue 12): property tests of the parsers and handlers in-process
(test_parsers), raw-socket requests against both real adapters (test_http_hostile) and bounded
exhaustion checks (test_exhaustion). HOSTILE_PROFILE=ci (default) or full sizes it; the summary
table (HOSTILE_REPORT) is printed at the end of a run and by `python -m tests.hostile.report`."""
