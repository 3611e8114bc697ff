"""The libFuzzer entry point the three harnesses share: instrument, then fuzz."""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Runs libFuzzer on test_one_input with the process's argv (libFuzzer flags, corpora).

    Python coverage comes from instrumenting every function loaded by now:
    the harness imported what it drives (distcache and, for the gRPC one,
    grpc and protobuf's Python layers) before calling this. C coverage comes
    from the extension itself when it was built with -fsanitize=fuzzer-no-link
    (make fuzz); the line printed first says which build was imported.
    """
    from distcache import _core

    instrumented = "yes" if "/build/fuzz/" in _core.__file__ else "no"
    print(f"fuzz: distcache._core from {_core.__file__} (fuzz build: {instrumented})",
          file=sys.stderr, flush=True)
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
