"""Money is integers in minor units: no float and no true division anywhere in the code
that handles it (a float cent lost in a refund or a prorated upgrade is a support call)."""

from __future__ import annotations

import ast
from pathlib import Path

import studioloop

MONEY_PACKAGES = ("payments", "billing", "credits")
ROOT = Path(studioloop.__file__).parent


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.parent.name}/{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.Div):
            found.append(f"{where} true division")
        elif isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{where} float literal")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("float", "round")
        ):
            found.append(f"{where} {node.func.id}()")
    return found


def test_no_float_in_money_code() -> None:
    files = [p for package in MONEY_PACKAGES for p in sorted((ROOT / package).glob("*.py"))]
    assert len(files) > 20
    offences = [offence for path in files for offence in _offences(path)]
    assert offences == []


def test_the_rule_catches_floats(tmp_path: Path) -> None:
    bad = tmp_path / "fees.py"
    bad.write_text("fee = amount * 0.05\nshare = paid / total\nx = round(fee)\n")
    assert len(_offences(bad)) == 3
