"""axe-core in a Playwright page: the accessibility rules the tests hold every page to.

axe-core comes from npm (package.json; `make test` runs `npm ci`). The pages' CSP refuses
inline scripts, so the script is not added as a <script> tag: Playwright's evaluate runs it
through the DevTools protocol, which the CSP does not govern, and the page under test keeps
the policy it has in production."""

import os
from functools import cache
from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parent.parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def require_axe():
    """Skip (fail in CI) when `npm ci` has not installed axe-core."""
    if AXE.exists():
        return
    message = f"{AXE} is missing: `make test` installs it (npm ci --no-audit --no-fund)"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message)


@cache
def _source():
    return AXE.read_text()


def violations(page, impacts=BLOCKING):
    """axe's violations on the page as it is now, of the given impacts, as plain dicts:
    {"id", "impact", "help", "nodes": [the failing elements' selectors and summaries]}."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    found = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


def describe(found):
    """One line per violation and failing element, for an assertion message."""
    return "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}): {node['target']}\n    {node['summary']}"
        for v in found
        for node in v["nodes"]
    )
