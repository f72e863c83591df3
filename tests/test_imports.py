"""Every module imports on its own: no import cycle hides behind the order in which
the suite happens to import things.

One fresh interpreter imports each module in turn, forgetting every ``engage``
module in between (third-party libraries stay loaded, which keeps it quick)."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = r"""
import importlib, pkgutil, sys, traceback
import engage
names = [i.name for i in pkgutil.walk_packages(engage.__path__, prefix="engage.")
         if ".migrations." not in i.name and not i.name.endswith("__main__")]
failed = 0
for name in names:
    for loaded in [m for m in sys.modules if m == "engage" or m.startswith("engage.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
        print(f"--- {name}", file=sys.stderr)
        traceback.print_exc(limit=3)
print(len(names))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone():
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.strip()) > 100
