"""How the code depends on itself (DESIGN §4), read from the source. The apps: core is the
platform both apps import; peerings never imports webhooks (webhooks listens to peering
signals and sets up its own rows); core imports neither (migrations aside: they are
history). The tests: none imports from a test module or from conftest.py; what they share
is in tests/support/, and pytest finds the fixtures in conftest.py by itself."""

import ast

import pytest

from tests.support.env import ROOT


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


def imports_of_test_modules(path, source):
    """(line, name) for each import, absolute or relative, of a test module (tests.test_*)
    or of tests.conftest in `source`, the text of the module at `path`."""
    package = list(path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if (
                parts[0] == "tests"
                and parts[1:2]
                and (parts[1] == "conftest" or parts[1].startswith("test_"))
            ):
                found.append((node.lineno, name))
                break
    return found


def test_no_test_module_imports_from_a_test_module_or_from_conftest():
    sample = """
import tests.test_admin
import tests.support.aws, tests.conftest
from tests.test_worker_cluster import cluster
from tests import test_security, support
from tests.conftest import make_deployment
from ..test_delete import vendor_side
from .. import conftest
from tests.support.aws import vendor_ec2
from . import aws
from tests import support
import tests.support.cluster
"""
    in_support = ROOT / "tests" / "support" / "sample.py"
    assert [name for _line, name in imports_of_test_modules(in_support, sample)] == [
        "tests.test_admin",
        "tests.conftest",
        "tests.test_worker_cluster",
        "tests.test_security",
        "tests.conftest",
        "tests.test_delete",
        "tests.conftest",
    ]
    modules = sorted((ROOT / "tests").rglob("*.py"))
    assert {"tests/conftest.py", "tests/support/aws.py", "tests/test_layout.py"} <= {
        str(path.relative_to(ROOT)) for path in modules
    }
    found = {
        str(path.relative_to(ROOT)): imported
        for path in modules
        if (imported := imports_of_test_modules(path, path.read_text()))
    }
    assert found == {}, "shared code belongs in tests/support/, fixtures in tests/conftest.py"
