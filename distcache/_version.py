"""The package's version: read by ``distcache.__version__``, the CLI and /stats."""

__version__ = "0.1.0"
