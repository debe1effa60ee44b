"""How the apps depend on one another (DESIGN §4): core is the platform both apps import;
peerings never imports webhooks (webhooks listens to peering signals and sets up its own
rows); core imports neither. Read from the source, migrations aside (they are history)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules(app):
    package = ROOT / app
    return [
        path
        for path in sorted(package.rglob("*.py"))
        if "migrations" not in path.relative_to(package).parts
    ]


def references(source, app, *, strings):
    """(line, name) for each import of `app` or of a module in it; with `strings`, also each
    string that is its label or a dotted path into it (`apps.get_model("webhooks", …)`, a
    task's name), which would tie the apps together as surely as an import."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        else:
            continue
        found += [
            (node.lineno, name) for name in names if name == app or name.startswith(f"{app}.")
        ]
    return found


def references_in(app, other, *, strings):
    return {
        str(path.relative_to(ROOT)): found
        for path in modules(app)
        if (found := references(path.read_text(), other, strings=strings))
    }


def test_the_check_reads_every_module_and_finds_each_kind_of_reference():
    assert {"peerings/models.py", "peerings/management/commands/reconcile.py"} <= {
        str(path.relative_to(ROOT)) for path in modules("peerings")
    }
    assert not [path for path in modules("peerings") if "migrations" in path.parts]
    source = """
import webhooks
import webhooks.models as m
from webhooks import services
from webhooks.tasks import send  # noqa
from . import webhooks
apps.get_model("webhooks", "WebhookDelivery")
schedule("webhooks.tasks.recover_stalled_deliveries")
'''Tell the webhooks app.'''
"""
    assert [line for line, _name in references(source, "webhooks", strings=True)] == [
        2,
        3,
        4,
        5,
        7,
        8,
    ]
    assert [line for line, _name in references(source, "webhooks", strings=False)] == [2, 3, 4, 5]


def test_peerings_never_imports_or_names_webhooks():
    assert references_in("peerings", "webhooks", strings=True) == {}


@pytest.mark.parametrize("app", ["peerings", "webhooks"])
def test_core_imports_neither_app(app):
    # core.models names "peerings.Deployment" as a string: the audit log's deployment
    # column, a foreign key into peerings' table that the move to core kept as it was.
    assert references_in("core", app, strings=False) == {}
