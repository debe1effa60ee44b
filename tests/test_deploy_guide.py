"""The deploy guide (docs/deploy.md) names every environment variable .env.example lists,
and the README points to it: a new setting without its line in the guide fails here."""

import re

from tests.support.env import ROOT


def listed_in_env_example():
    return {
        match.group(1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if (match := re.match(r"#?\s*([A-Z][A-Z0-9_]+)=", line))
    }


def test_the_deploy_guide_names_every_variable_of_env_example():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    variables = listed_in_env_example()
    assert "SECRET_KEY" in variables
    assert {name for name in variables if f"`{name}`" not in guide} == set()


def test_the_readme_links_the_deploy_guide():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()


def test_the_metrics_section_warns_that_allowed_networks_see_only_the_proxy():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    metrics = guide.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    assert "**Behind a reverse proxy, use `METRICS_TOKEN`.**" in metrics
    assert "(`REMOTE_ADDR`)" in metrics
