"""The user's dense model: a zoo user model (fine-tuned on Fashion-MNIST), from the
zoo's cache or from a build folder made by zoo.build_variant."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import zoo
from ..errors import SparseByteNNError
from ..zoo import catalog


@dataclass(frozen=True)
class UserModel:
    name: str
    mnn: Path                  # the dense .mnn
    folder: Path | None        # its build folder; None: the zoo's cache

    @property
    def spec(self) -> catalog.ModelSpec:
        return catalog.spec(self.name)

    def torch(self):
        """A fresh copy of the trained torch module (eval mode)."""
        return zoo.torch_model(self.name, folder=self.folder, progress=False)

    def manifest(self) -> dict:
        return zoo.manifest(self.name, self.folder) or {}


def check_user_model(name: str) -> None:
    s = catalog.spec(name)
    if s.recipe is None or s.classes != "fashion-mnist":
        users = [n for n in catalog.names() if catalog.spec(n).classes == "fashion-mnist"]
        raise SparseByteNNError(f"--model {name}: not a user model trained on Fashion-MNIST; "
                                f"use one of {', '.join(users)}")


def mnn_path(name: str, folder=None) -> Path:
    """Where the dense .mnn is (or will be, once built)."""
    return zoo.cached_files(name)["mnn"] if folder is None else Path(folder) / f"{name}.mnn"


def open_user_model(name: str, folder=None, progress: bool = True) -> UserModel:
    """The user model `name`; built into the zoo's cache first when needed (minutes)."""
    check_user_model(name)
    if folder is None:
        return UserModel(name, zoo.get(name, progress=progress), None)
    folder = Path(folder)
    if zoo.manifest(name, folder) is None:
        raise SparseByteNNError(f"--from {folder}: no complete build of {name} there "
                                "(make one with sparsebytenn.zoo.build_variant)")
    return UserModel(name, folder / f"{name}.mnn", folder)
