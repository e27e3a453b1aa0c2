"""The load and fault harness (issue #13): ``python -m benchmarks.faults --help``."""
