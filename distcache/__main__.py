"""``python -m distcache``: the command line (distcache/cli/)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
