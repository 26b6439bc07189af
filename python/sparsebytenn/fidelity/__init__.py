"""Fidelity: what group pruning and rearrangement cost in accuracy, on real models and data.

    from sparsebytenn.fidelity import EvalConfig, evaluate
    result = evaluate(EvalConfig("mobilenet-v1", sparsities=[0.3, 0.5], train=2000, test=2000))

See evaluate.py for the protocol (Fashion-MNIST linear probe on MNN features,
agreement on real photos) and `sparsebytenn eval --help`.
"""
from .evaluate import PATTERNS, EvalConfig, evaluate

__all__ = ["PATTERNS", "EvalConfig", "evaluate"]
