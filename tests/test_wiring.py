"""After `wiring.wire()`, whatever the code can ask for is there: a handler for every payment
purpose, a task for every job deferred by name; and wiring twice changes nothing."""

from __future__ import annotations

import ast
import importlib

from studioloop import wiring
from studioloop.booking import hooks as booking_hooks
from studioloop.jobs.app import job_app
from studioloop.payments import fulfilment
from studioloop.payments.models import PAYMENT_PURPOSES
from studioloop.scheduling import hooks as scheduling_hooks
from tests.import_each import parse_modules

DEFERRING = {"defer_in_transaction", "send_deferred"}


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _calls(name: str | set[str]) -> list[tuple[str, ast.Call]]:
    names = {name} if isinstance(name, str) else name
    return [
        (module, node)
        for module, tree in parse_modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called(node) in names
    ]


def _job_names() -> dict[str, str]:
    """Every constant of every domain's job_names module: its name -> the task's name."""
    found: dict[str, str] = {}
    for module in parse_modules():
        if module.endswith(".job_names"):
            values = vars(importlib.import_module(module))
            found.update({k: v for k, v in values.items() if k.isupper() and isinstance(v, str)})
    return found


def test_every_payment_purpose_has_its_fulfilment() -> None:
    wiring.wire()
    made = {
        value.value  # `purpose="x"`, or either side of `"x" if ... else "y"`
        for _, call in _calls("Payment")
        for keyword in call.keywords
        if keyword.arg == "purpose"
        for value in ast.walk(keyword.value)
        if isinstance(value, ast.Constant) and isinstance(value.value, str)
    }
    assert made and made <= set(PAYMENT_PURPOSES)
    assert set(fulfilment.registered()) == set(PAYMENT_PURPOSES)


def test_every_job_deferred_by_name_is_a_task() -> None:
    wiring.wire()
    names = _job_names()
    deferred: set[str] = set()
    for module, call in _calls(DEFERRING):
        if module == "studioloop.jobs.defer" or len(call.args) < 2:
            continue
        task = call.args[1]
        if isinstance(task, ast.Constant) and isinstance(task.value, str):
            deferred.add(task.value)
            continue
        constant = task.attr if isinstance(task, ast.Attribute) else getattr(task, "id", None)
        assert constant in names, (
            f"{module}:{call.lineno} defers {ast.unparse(task)}: name the job with a constant "
            "of the domain's job_names.py"
        )
        deferred.add(names[constant])
    assert deferred, "no deferred job found: has jobs.defer's API changed?"
    assert deferred | set(names.values()) <= set(job_app.tasks)


def test_wiring_twice_changes_nothing() -> None:
    wiring.wire()
    before = (
        fulfilment.registered(),
        list(booking_hooks._cancelled_handlers),
        list(scheduling_hooks._cancel_handlers),
        list(scheduling_hooks._teacher_handlers),
    )
    wiring.wire()
    after = (
        fulfilment.registered(),
        list(booking_hooks._cancelled_handlers),
        list(scheduling_hooks._cancel_handlers),
        list(scheduling_hooks._teacher_handlers),
    )
    assert after == before
    assert len(before[1]) == 2 and len(before[3]) == 1
