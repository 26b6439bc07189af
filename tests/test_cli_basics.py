"""The CLI's contract: help everywhere, clean errors, python -m works."""
import subprocess
import sys

from sparsebytenn.cli import COMMANDS, build_parser


def run(*args):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *args],
                          capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    registered = build_parser()._subparsers._group_actions[0].choices
    assert registered, "no subcommand registered"
    for name in registered:
        assert name in r.stdout


def test_every_subcommand_has_help_with_examples():
    registered = build_parser()._subparsers._group_actions[0].choices
    for name in registered:
        r = run(name, "--help")
        assert r.returncode == 0, (name, r.stderr)
        assert "example" in r.stdout.lower(), f"`{name} --help` shows no examples"


def test_no_command_prints_help_and_fails():
    r = run()
    assert r.returncode == 2
    assert "COMMAND" in r.stdout


def test_command_list_is_known():
    assert set(COMMANDS) >= {"zoo", "inspect", "convert", "run", "bench"}


def test_every_python_the_package_accepts_has_an_allow_listed_mnn_engine():
    # issue 14.16: pyproject accepted Python >= 3.10 while the bridge knew only cp311
    # builds of MNN's engine, so on 3.10/3.12 it quietly fell back to stock MNN
    import re
    import tomllib
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from sparsebytenn.plugin import KNOWN_ENGINES

    spec = SpecifierSet(tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
                        ["project"]["requires-python"])
    accepted = {f"cp3{minor}" for minor in range(6, 20) if f"3.{minor}.0" in spec}
    known = {re.search(r"\bcp3\d+\b", label).group(0) for label in KNOWN_ENGINES.values()}
    assert accepted and accepted <= known, (sorted(accepted), sorted(known))


def test_group_sizes_are_read_the_same_by_convert_and_bench():
    # one parser for --group: bench takes the converter's `auto` too; a G the kernels have no
    # variant for is the converter's one-line error, before bench converts or times anything
    # (convert's own case is in tests/converter/test_converter.py)
    parser = build_parser()
    for cmd in (["convert", "in.mnn", "out.mnn"], ["bench", "m.mnn"]):
        assert parser.parse_args([*cmd, "--group", "auto"]).group == "auto"
        assert parser.parse_args([*cmd, "--group", "16"]).group == 16
        r = run(*cmd, "--group", "eight")
        assert r.returncode == 2 and "'eight': G is 1, 2, 4, 8, 16 or auto" in r.stderr, (cmd, r.stderr)
    for bad in ("3", "32", "0"):
        r = run("bench", "no-such-model.mnn", "--group", bad)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 1 and len(lines) == 1, (bad, r.stderr)
        assert lines[0].startswith(f"sparsebytenn: error: --group {bad}: G must be one of 1, 2, 4, 8, 16"), lines
