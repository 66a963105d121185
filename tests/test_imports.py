"""No import circles: every module imports on its own, the modules' imports form no cycle,
and none hides one by importing inside a function."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_each import cycles, import_graph, imports_of, parse_modules

# Modules allowed to import `studioloop` inside functions, and why. A circle is not a reason:
# break it (a shared piece in a module of its own, a registry wired in studioloop/wiring.py,
# a job deferred by name).
FUNCTION_IMPORTS_ALLOWED = {
    "studioloop.cli": "each command loads only what it runs: `--help` in a fraction of a second",
    "studioloop.cli_backup": "as cli.py: the backup tools load only when a command runs them",
    "studioloop.cli_settings": "as cli.py: `--help` loads neither the settings nor logging",
}


def test_no_studioloop_import_inside_a_function_but_the_allowed() -> None:
    found = {name: imports_of(tree)[1] for name, tree in parse_modules().items()}
    unexplained = {
        name: lines
        for name, lines in found.items()
        if lines and name not in FUNCTION_IMPORTS_ALLOWED
    }
    assert not unexplained, (
        "imports inside functions (a hidden import circle?): import at the top, break the "
        f"circle, or allow the module with its reason in FUNCTION_IMPORTS_ALLOWED: {unexplained}"
    )
    stale = [name for name in FUNCTION_IMPORTS_ALLOWED if not found.get(name)]
    assert not stale, f"allowed but no longer needed: {stale}"


def test_the_modules_imports_form_no_cycle() -> None:
    """Checked statically: a circle is caught even where Python would let it pass (a module
    taken from another half loaded, its names read only later)."""
    assert not cycles(import_graph(parse_modules()))


@pytest.mark.timeout(300)
def test_every_module_imports_on_its_own() -> None:
    """Each module first in its process (tests/import_each.py)."""
    helper = Path(__file__).with_name("import_each.py")
    result = subprocess.run(
        [sys.executable, str(helper)], capture_output=True, text=True, timeout=290, check=False
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
