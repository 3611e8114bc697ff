"""atheris harnesses: the C core against its twin, the gRPC handlers, the command line.

Each module is runnable as ``python -m tests.fuzz.<name> [libFuzzer args]`` and
exports ``TestOneInput(data)``, which tests/fuzz/test_regressions.py replays on
every committed seed and regression input. ``make fuzz`` runs them all
(tests/fuzz/run.py) against an instrumented build of the extension;
docs/reliability.md says how.
"""
