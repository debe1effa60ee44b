"""Debian's Chromium driven by Playwright: where it is, how it starts here (as root, with
no internet), and where screenshots go."""

import os
import shutil

import pytest

from tests.support.env import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def skip_without_chromium():
    """At the top of a browser test module: CI must have Chromium; elsewhere, skip."""
    if shutil.which(CHROMIUM):
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs it with apt-get")
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's Chromium with "
        "`apt-get install -y chromium` to run the browser tests",
        allow_module_level=True,
    )
