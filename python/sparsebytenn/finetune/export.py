"""A trained torch model back to MNN: torch -> ONNX -> MNN's converter (in-process)."""
from __future__ import annotations

from pathlib import Path

from ..zoo import catalog
from ..zoo import export as zoo_export


def to_mnn(model, spec: catalog.ModelSpec, folder: Path, stem: str) -> Path:
    """Write folder/stem.onnx and folder/stem.mnn; returns the .mnn."""
    onnx_path, mnn_path = Path(folder) / f"{stem}.onnx", Path(folder) / f"{stem}.mnn"
    model.eval()
    zoo_export.torch_to_onnx(model, spec.input_shape, onnx_path, spec.input_name, spec.output_name)
    zoo_export.onnx_to_mnn(onnx_path, mnn_path)
    return mnn_path
