"""Build the C core: distcache._core from distcache/_core.pyx (+ its .pxi) and csrc/*.h.

Environment switches (used by the Makefile):
  DISTCACHE_WERROR=1    compile the C with -Werror (CI)
  DISTCACHE_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer build
  DISTCACHE_DEBUG=1     -O0 -g, asserts on
  DISTCACHE_FUZZ=1      clang coverage for atheris (libFuzzer) + ASan/UBSan (make fuzz)
"""

import os
import sys
from glob import glob

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _extensions() -> list[Extension]:
    from Cython.Build import cythonize

    cflags = ["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
              "-Wno-unused-function", "-Wno-missing-field-initializers"]
    ldflags: list[str] = []
    macros = [("NPY_NO_DEPRECATED_API", "0")]
    if _flag("DISTCACHE_WERROR"):
        cflags.append("-Werror")
    if _flag("DISTCACHE_DEBUG") or _flag("DISTCACHE_SANITIZE") or _flag("DISTCACHE_FUZZ"):
        cflags = [f for f in cflags if f != "-O3"] + ["-O1", "-g", "-UNDEBUG"]
        macros.append(("DC_DEBUG", "1"))
    if _flag("DISTCACHE_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
        cflags += san
        ldflags += san
    if _flag("DISTCACHE_FUZZ"):
        # Needs CC=clang: libFuzzer's edge counters and comparison hooks. The
        # runtime is atheris's asan_with_fuzzer.so, preloaded (docs/reliability.md).
        fuzz = ["-fsanitize=fuzzer-no-link,address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined"]
        cflags += fuzz
        ldflags += fuzz
    ext = Extension(
        "distcache._core",
        sources=["distcache/_core.pyx"],
        depends=glob("csrc/*.h") + glob("distcache/*.pxi") + ["distcache/_core.pxd"],
        include_dirs=["csrc"],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        define_macros=macros,
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            "freethreading_compatible": True,
        },
        quiet=True,
    )


if __name__ == "__main__" or "setuptools" in sys.modules:
    setup(ext_modules=_extensions())
