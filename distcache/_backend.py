"""Which core runs: the C extension, or its pure-Python twin.

``DISTCACHE_PURE_PYTHON=1`` selects the twin ``distcache._pycore`` (msgpack
and multidict do the same), and so does a missing extension. A leaf: the
package ``__init__`` and every module that needs the core import ``core``
from here, never the package itself.
"""

import os

if os.environ.get("DISTCACHE_PURE_PYTHON", "") not in ("", "0"):
    from . import _pycore as core
else:
    try:
        from . import _core as core
    except ImportError:  # no compiled extension: run on the twin
        from . import _pycore as core

__all__ = ["core"]
