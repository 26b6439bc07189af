"""Accuracy of a model file in stock MNN, and the plugin checked against stock MNN."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..zoo.fashion_mnist_inputs import model_inputs

CHUNK = 250


def chunks(model_name: str, images: np.ndarray):
    """Model inputs `CHUNK` images at a time: (start, inputs)."""
    for start in range(0, len(images), CHUNK):
        yield start, model_inputs(model_name, images[start:start + CHUNK])


def mnn_correct(path: Path, model_name: str, images: np.ndarray, labels: np.ndarray,
                threads: int = 1, progress: bool = False, desc: str = "test") -> np.ndarray:
    """Per image: did stock MNN's top-1 class for `path` match the label? One image per
    run (a graph exported for batch 1 may hold that batch in a reshape)."""
    from tqdm import tqdm

    from ..session import Session

    run = Session(Path(path), plugin=False, threads=threads).run_single
    pred = np.empty(len(images), np.int64)
    with tqdm(total=len(images), desc=desc, unit="img", leave=False, disable=not progress) as bar:
        for start, x in chunks(model_name, images):
            for i in range(len(x)):
                pred[start + i] = int(run(x[i:i + 1]).reshape(-1).argmax())
            bar.update(len(x))
    return pred == labels


def torch_correct(model, model_name: str, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The same for a torch model (eval mode); for quick looks during development."""
    import torch

    model.eval()
    pred = []
    with torch.no_grad():
        for _, x in chunks(model_name, images):
            pred.append(model(torch.from_numpy(x)).numpy().argmax(1))
    return np.concatenate(pred) == labels


def plugin_vs_stock(path: Path, model_name: str, images: np.ndarray) -> dict:
    """Outputs of the plugin (sparse kernels) and of stock MNN on the same file and inputs."""
    from ..session import Session

    stock, plugin = Session(path, plugin=False), Session(path, plugin=True)
    worst, differing, convs = 0.0, 0, 0
    for _, x in chunks(model_name, images):
        for i in range(len(x)):
            a = next(iter(stock.run(x[i:i + 1]).values())).reshape(-1)
            b = next(iter(plugin.run(x[i:i + 1]).values())).reshape(-1)
            convs = max(convs, plugin.stats()["plugin_convs"])
            worst = max(worst, float(np.abs(a - b).max() / max(float(np.abs(a).max()), 1e-30)))
            differing += int(a.argmax() != b.argmax())
    return {"images": len(images), "max_rel_diff": worst, "top1_differing": differing,
            "plugin_convs": convs}
