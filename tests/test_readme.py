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
