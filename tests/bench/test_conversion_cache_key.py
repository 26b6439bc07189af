"""The bench's conversion cache must not serve a model converted by older converter code
(issue 14.12): its key follows the converter package's sources."""
from __future__ import annotations

from pathlib import Path

import sparsebytenn
import sparsebytenn_converter


def _key_with_edit(monkeypatch, edited: Path) -> str:
    from sparsebytenn.bench.prepare import _code_hash

    real = Path.read_bytes

    def read_bytes(self):
        data = real(self)
        return data + b"\n# edited\n" if self.resolve() == edited.resolve() else data

    with monkeypatch.context() as m:
        m.setattr(Path, "read_bytes", read_bytes)
        return _code_hash(sparsebytenn.convert)


def test_key_changes_with_any_converter_source(monkeypatch):
    from sparsebytenn.bench.prepare import _code_hash

    base = _code_hash(sparsebytenn.convert)
    assert base == _code_hash(sparsebytenn.convert)
    folder = Path(sparsebytenn_converter.__file__).parent
    for name in ("reconstruct.py", "allocate.py", "rearrange.py", "encode.py"):
        assert _key_with_edit(monkeypatch, folder / name) != base, name
    # a re-measured speed table changes what --group auto writes: the same commit's bench
    # served models converted with the table before
    for table in sorted((folder / "speed_tables").glob("*.json")):
        assert _key_with_edit(monkeypatch, table) != base, table.name


def test_key_ignores_code_that_cannot_change_the_model(monkeypatch):
    from sparsebytenn.bench.prepare import _code_hash

    base = _code_hash(sparsebytenn.convert)
    demo = Path(sparsebytenn.__file__).parent / "commands" / "demo.py"
    assert _key_with_edit(monkeypatch, demo) == base
