"""The protoc that generates distcache/cluster/distcache_pb2.py, pinned, in a venv of its own.

    python -m tests.cluster.protoc OUT    # writes OUT/distcache/distcache_pb2.py{,i}

The committed messages must import on every protobuf pyproject.toml allows
(>= 5.26.1): what grpcio-tools 1.63.2 generates is "Protobuf Python Version:
5.26.1" without a runtime check, while a newer grpcio-tools's output refuses
any older runtime (1.85.1's needs protobuf >= 7.35.1). That grpcio-tools
wants protobuf < 6, so it gets its own venv under build/ (made once, from
PyPI or pip's cache), apart from .venv's newer protobuf. `make proto` and
tests/cluster/test_stubs.py both generate through here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["GRPCIO_TOOLS", "generate", "tools_python"]

ROOT = Path(__file__).resolve().parents[2]
GRPCIO_TOOLS = "grpcio-tools==1.63.2"


def tools_python(build: Path = ROOT / "build") -> Path:
    """The python of the venv that holds GRPCIO_TOOLS (made when missing)."""
    venv = build / ("protoc-" + GRPCIO_TOOLS.replace("==", "-"))
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():  # absent, or a run that stopped half-way
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", GRPCIO_TOOLS], check=True,
                       timeout=600)
        stamp.touch()
    return python


def generate(out: Path) -> Path:
    """The message classes and their .pyi from proto/distcache.proto into out/distcache/."""
    subprocess.run(
        [str(tools_python()), "-m", "grpc_tools.protoc", "-Idistcache=proto",
         f"--python_out={out}", f"--pyi_out={out}", "proto/distcache.proto"],
        cwd=ROOT, check=True, timeout=120,
    )
    return out / "distcache"


if __name__ == "__main__":
    generate(Path(sys.argv[1]).resolve())
