"""Calling a handler module in-process, as its Lambda execution environment would."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def fresh(module: str) -> ModuleType:
    """Import a handler module anew, so its module-level init sees this test's environment."""
    sys.modules.pop(module, None)
    return importlib.import_module(module)
