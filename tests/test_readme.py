"""The README's plugin example is real code: it validates and selects as documented."""

from __future__ import annotations

import re
from pathlib import Path

from sb_testing import REPO, run_cli


def test_readme_plugin_example_passes_validate_selector(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(# my_method.py\n.*?)```", readme, re.S)
    assert block, "README lost its plugin example"
    plugin = tmp_path / "my_method.py"
    plugin.write_text(block.group(1))
    proc = run_cli("validate-selector", f"{plugin}:MyMethod", "--param", "longest_first=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout and '"name": "my_method"' in proc.stdout.replace("\n", "")


def test_readme_names_the_two_setup_commands_and_the_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme and "python -m pytest" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_tells_the_truth_about_the_quick_start_and_the_selectors() -> None:
    """What a newcomer reads first: said once, and matching what the code does."""
    from selbench.selection.registry import BUILTIN
    from selbench.specs.loader import load_spec

    readme = (REPO / "README.md").read_text()
    assert readme.count("`make run` runs `selbench run` on the embedded `tiny` spec") == 1
    assert "every built-in selector" not in readme
    tiny = load_spec("tiny").selectors
    assert list(tiny) == ["random", "longest", "full"]
    assert "`random` (5 seeds), `longest`\nand `full`" in readme  # the selectors the default run uses
    listed = re.search(r"selbench ls selectors +# the (\d+) built-ins", readme)
    assert listed and int(listed.group(1)) == len(BUILTIN)


def test_help_texts_have_no_lost_placeholders() -> None:
    """Angle-bracket placeholders vanish in rich's help rendering ("A run folder (/)")."""
    for args in (("run", "--help"), ("status", "--help"), ("evaluate", "--help"), ("train", "--help"),
                 ("submit", "--help"), ("leaderboard", "build", "--help")):
        text = " ".join(run_cli(*args).stdout.split())
        assert "(/)" not in text and "//" not in text.replace("://", ""), (args, text)
