"""Scripts under scripts/ (not a package) loaded as modules, for testing their pure parts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def script_module(name: str) -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
