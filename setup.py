"""Build the C core: distcache._core from distcache/_core.pyx (+ its .pxi) and csrc/*.h.

Environment switches (used by the Makefile):
  DISTCACHE_WERROR=1    compile the C with -Werror (CI)
  DISTCACHE_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer build
  DISTCACHE_DEBUG=1     -O0 -g, asserts on
  DISTCACHE_FUZZ=1      clang coverage for atheris (libFuzzer) + ASan/UBSan (make fuzz)
  DISTCACHE_REQUIRE_C=1 a C core that does not build fails the build (make build, CI)

Where the C core cannot build (no compiler, no Python headers), the install
goes on without it: distcache/_backend.py then picks the pure-Python twin,
which passes the same tests, only slower. That is said once, in a box on
stderr (`pip install -v` shows it; `distcache.IMPLEMENTATION` says "python").
"""

import os
import sys
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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


class OptionalBuildExt(build_ext):
    """build_ext whose failure leaves the pure-Python twin in charge, unless
    DISTCACHE_REQUIRE_C or any other build switch asks for the C core."""

    _warned = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError, OSError)
            self._fall_back(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a compiler that is not there
            self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        if any(_flag(name) for name in ("DISTCACHE_REQUIRE_C", "DISTCACHE_WERROR",
                                        "DISTCACHE_SANITIZE", "DISTCACHE_DEBUG",
                                        "DISTCACHE_FUZZ")):
            raise exc
        if OptionalBuildExt._warned:
            return
        OptionalBuildExt._warned = True
        bar = "*" * 76
        print(f"\n{bar}\n"
              f"WARNING: the C core of distcache (distcache._core) could not be built:\n"
              f"    {type(exc).__name__}: {exc}\n"
              f"distcache is installed with its pure-Python core instead: it works the\n"
              f"same and passes the same tests, several times slower. To get the C core,\n"
              f"install a C compiler and the Python headers and reinstall, or use a wheel.\n"
              f"{bar}\n", file=sys.stderr, flush=True)


if __name__ == "__main__" or "setuptools" in sys.modules:
    setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
