"""Fixtures of the command-line tests: as in the group tests, every group is forgotten."""

from tests.group.conftest import _forget_groups  # noqa: F401  (an autouse fixture)
