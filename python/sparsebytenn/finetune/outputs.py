"""The files a run writes: per sparsity a tagged .sparse.mnn and its finetune.json,
checked before any work and written together, atomically."""
from __future__ import annotations

import json
from pathlib import Path

from sparsebytenn_converter.output_paths import check_outputs, write_all_atomic


def sparsity_tag(s: float) -> str:
    """0.5 -> 's50', 0.725 -> 's72.5'."""
    return "s" + f"{s * 100:.4f}".rstrip("0").rstrip(".")


def output_files(out: Path, model: str, sparsity: float) -> tuple[Path, Path]:
    stem = Path(out) / f"{model}-{sparsity_tag(sparsity)}"
    return stem.with_name(stem.name + ".sparse.mnn"), stem.with_name(stem.name + ".finetune.json")


def check_all(out: Path, model: str, sparsities, inputs, force: bool) -> None:
    """Before any work: no output is an input, none exists unless --force, the folder is writable."""
    files = []
    for s in sparsities:
        mnn, js = output_files(out, model, s)
        files += [("", mnn, None), ("", js, ".json")]
    check_outputs(files, inputs=inputs, force=force)


def write(out: Path, model: str, sparsity: float, mnn_bytes: bytes, summary: dict) -> tuple[Path, Path]:
    mnn, js = output_files(out, model, sparsity)
    write_all_atomic([(mnn, mnn_bytes), (js, (json.dumps(summary, indent=1) + "\n").encode())])
    return mnn, js
