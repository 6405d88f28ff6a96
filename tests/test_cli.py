"""The `kerascnn` command: help lists only working subcommands; errors exit 2 in one line."""

import glob
import os
import re
import subprocess
import sys

import pytest

from kerascnn import cli

pytestmark = pytest.mark.tensorflow_only


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "summary"):
        assert command in out


def _mentioned_commands(text: str, fenced: bool) -> list:
    """The words after ``kerascnn`` in code: inline spans (`kerascnn train ...`) and, in Markdown,
    the lines of fenced blocks that start a command."""
    found = re.findall(r"`kerascnn ([a-z][a-z_-]*)", text)
    if fenced:
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            found += re.findall(r"^\s*(?:[A-Z_]+=\S+ )*kerascnn ([a-z][a-z_-]*)", block, flags=re.M)
    return found


def test_commands_named_in_help_and_docs_exist():
    """``kerascnn bench --help`` sent users to `kerascnn models`, a command that never existed."""
    subparsers = next(action for action in cli.build_parser()._actions if action.choices and action.dest == "command")
    commands = set(subparsers.choices)
    wrong = []
    for name, parser in subparsers.choices.items():
        for text in [parser.description or ""] + [action.help or "" for action in parser._actions]:
            wrong += [(f"kerascnn {name} --help", word) for word in _mentioned_commands(text, fenced=False)
                      if word not in commands]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pages = [os.path.join(root, "README.md")] + glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True)
    for page in pages:
        with open(page, encoding="utf-8") as handle:
            wrong += [(os.path.relpath(page, root), word) for word in _mentioned_commands(handle.read(), fenced=True)
                      if word not in commands]
    assert not wrong, wrong


def test_list_prints_models_and_counts(capsys):
    assert cli.main(["list", "lenet*"]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "61,706" in out
    assert cli.main(["list", "resnet5*", "--pretrained"]) == 0  # keras.applications' ResNet50 and ResNet50V2
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["resnet50", "resnet50v2"]
    assert cli.main(["list", "lenet*", "--pretrained"]) == 2
    assert "no registered model with pretrained weights matches 'lenet*'" in capsys.readouterr().err


def test_summary_checks_the_card(capsys):
    assert cli.main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "c5_conv" in out and "matches the card" in out


def test_unknown_model_is_one_line_exit_2(capsys):
    assert cli.main(["summary", "lenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Did you mean 'lenet5'" in err


@pytest.mark.full
def test_console_script_keeps_tensorflow_start_up_lines_off_stderr():
    # TensorFlow's native libraries log while loading (CUDA probe, oneDNN notice) through absl,
    # ignoring TF_CPP_MIN_LOG_LEVEL; the command drops them unless the user asked for logs.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "kerascnn.cli", "list", "lenet5"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "lenet5" in result.stdout
    assert "absl::InitializeLog" not in result.stderr and "I0000" not in result.stderr, result.stderr


@pytest.mark.full
def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "kerascnn.cli", "list", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"name": "lenet5"' in result.stdout
