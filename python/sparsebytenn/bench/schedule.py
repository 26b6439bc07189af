"""The order engines are timed in: every round times every engine once.

Each round is a fresh random permutation (seeded, so a run can be repeated),
chosen so that no engine is timed twice back to back across a round boundary:
whatever an engine leaves behind (warm caches, a spinning pool) never helps or
hurts the same engine's next batch more than another's.
"""
from __future__ import annotations

import random


def round_orders(n_engines: int, rounds: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    orders: list[list[int]] = []
    for _ in range(rounds):
        order = list(range(n_engines))
        rng.shuffle(order)
        if orders and n_engines > 1 and order[0] == orders[-1][-1]:
            order[0], order[-1] = order[-1], order[0]
        orders.append(order)
    return orders
