"""Re-export of tests/conftest.py's require helpers for the kernel testers
(tests/ is not a package, so they are loaded by path)."""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "sbnn_root_conftest", pathlib.Path(__file__).resolve().parents[1] / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
require = _mod.require
require_tool = _mod.require_tool
