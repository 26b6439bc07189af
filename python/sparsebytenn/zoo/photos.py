"""A few real photos that installed packages ship, with the ImageNet label when obvious.

Too few to measure accuracy; they are smoke tests (does the model still see the
espresso after pruning?) and inputs for fidelity checks.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .labels import DARKNET_DATA

# (package or folder, file, expected ImageNet label or None when no single class is obvious)
_SKIMAGE = [("coffee.png", "espresso"), ("chelsea.png", None), ("rocket.jpg", None),
            ("motorcycle_left.png", None), ("astronaut.png", None)]
_DARKNET = [("eagle.jpg", "bald eagle"), ("dog.jpg", None), ("giraffe.jpg", None),
            ("horses.jpg", None), ("kite.jpg", None), ("person.jpg", None)]
_SKLEARN = [("china.jpg", None), ("flower.jpg", None)]
_MATPLOTLIB = [("grace_hopper.jpg", None)]


def _package_dir(module: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # finds the folder without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / sub


def sample_photos() -> list[tuple[str, Path, str | None]]:
    """[(name, path, expected ImageNet label or None)] for the photos that are installed."""
    sources = [(_package_dir("skimage", "data"), _SKIMAGE),
               (DARKNET_DATA, _DARKNET),
               (_package_dir("sklearn", "datasets/images"), _SKLEARN),
               (_package_dir("matplotlib", "mpl-data/sample_data"), _MATPLOTLIB)]
    found = []
    for folder, entries in sources:
        if folder is None:
            continue
        for filename, label in entries:
            path = folder / filename
            if path.is_file():
                found.append((Path(filename).stem, path, label))
    return found
