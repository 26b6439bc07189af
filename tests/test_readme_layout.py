"""The README's "Project layout" names the tree as it is: every path it names exists,
every top-level entry, Python package, kernel family and command is named in it.
Checked against `git ls-files` (what the repository holds), not against the README's
own claims."""
from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Project layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).exists()]


def _expand(token: str) -> list[str]:
    """`a/{b,c}.py` -> [a/b.py, a/c.py] (one brace group, as the layout writes them)."""
    m = re.search(r"\{([^{}]*)\}", token)
    if not m:
        return [token]
    return list(itertools.chain.from_iterable(
        _expand(token[:m.start()] + alt + token[m.end():]) for alt in m.group(1).split(",")))


def test_every_file_the_layout_names_exists():
    tracked = _tracked()
    tokens = re.findall(r"[\w./{},-]+\.(?:py|cc|h|sh|md|toml|txt|json)\b", _layout())
    assert len(tokens) > 30
    for token in tokens:
        for name in _expand(token.strip(",")):
            if "{G}" in token or "{tile}" in token:
                continue
            assert any(p == name or p.endswith("/" + name) for p in tracked), f"README layout names {name!r}"


def test_every_top_level_entry_package_kernel_and_command_is_named():
    layout, tracked = _layout(), _tracked()
    words = set(re.findall(r"[\w.-]+", " ".join(itertools.chain.from_iterable(
        _expand(t) for t in re.findall(r"\S+", layout)))))
    top = {p.split("/")[0] for p in tracked} - {".gitignore"}
    assert top - {w.strip("/") for w in re.findall(r"[\w.]+/?", layout)} == set()
    packages = {str(Path(p).parent) for p in tracked if p.endswith("__init__.py")}
    for package in packages:   # a top package by its path, a subpackage by its name under it
        named = package if str(Path(package).parent) not in packages else Path(package).name
        assert re.search(rf"(^|\s){re.escape(named)}/", layout), f"package {package} is not in the README layout"
    kernels = [p for p in tracked if re.fullmatch(r"plugin/kernels/src/f32_gspmm_\w+\.cc", p)]
    assert len(kernels) == 6          # ref, avx2, avx512, neon, wasmsimd, wasmrelaxedsimd
    for path in kernels:
        assert Path(path).name in words, f"kernel {path} is not in the README layout"
    commands = [Path(p).stem for p in tracked if re.fullmatch(r"python/sparsebytenn/commands/\w+\.py", p)]
    for name in set(commands) - {"__init__"}:
        assert f"{name}.py" in words, f"command module {name}.py is not in the README layout"
    assert "mnn_wheel.py" in words and "MNNSession" in words, "the one MNN runner"
