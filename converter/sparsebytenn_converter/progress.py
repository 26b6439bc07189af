"""Progress bars on stderr for long stages (tqdm when installed and wanted)."""
from __future__ import annotations


def bar(items, enabled: bool, desc: str, unit: str):
    if not enabled or len(items) < 2:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit=unit, leave=False)
