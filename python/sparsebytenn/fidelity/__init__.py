"""Fidelity: what pruning costs in accuracy (and buys in speed), on real models and data.

    from sparsebytenn.fidelity import EvalConfig, evaluate
    result = evaluate(EvalConfig("mobilenet-v1-fmnist", sparsities=[0.3, 0.5], groups=[8, "auto"]))

See evaluate.py for the protocols (a Fashion-MNIST model's test accuracy; ImageNet
agreement on held-out photos, photo_protocol.py) and `sparsebytenn eval --help`.
"""
from .evaluate import METHODS, EvalConfig, evaluate

__all__ = ["METHODS", "EvalConfig", "evaluate"]
