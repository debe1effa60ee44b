"""With DEBUG off the portal serves its own static files (WhiteNoise): hashed names from
collectstatic's manifest, compressed, cached for a year, under the same CSP as before."""

import re

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

PRODUCTION_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.fixture
def collected(tmp_path):
    """collectstatic, as the deploy runs it, into a directory of this test's own."""
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=PRODUCTION_STORAGES):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield tmp_path


def test_the_production_settings_use_hashed_compressed_static_files():
    from peering_portal import settings as production

    assert production.STORAGES["staticfiles"] == PRODUCTION_STORAGES["staticfiles"]
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in production.MIDDLEWARE


def test_it_links_the_stylesheet_by_its_hashed_name_and_serves_it_with_a_long_cache(
    collected, db, settings
):
    assert settings.DEBUG is False
    client = Client()  # a new handler: WhiteNoise reads STATIC_ROOT when it starts
    page = client.get("/login/")
    assert page.status_code == 200
    stylesheet = re.search(r'href="(/static/portal\.[0-9a-f]{12}\.css)"', page.content.decode())
    assert stylesheet, page.content.decode()[:2000]
    script = re.search(r'src="(/static/portal\.[0-9a-f]{12}\.js)"', page.content.decode())
    assert script

    css = client.get(stylesheet.group(1))
    assert css.status_code == 200
    assert css["Content-Type"].startswith("text/css")
    assert "max-age=315360000" in css["Cache-Control"]
    assert "immutable" in css["Cache-Control"]
    assert (
        b"".join(css.streaming_content).decode()
        == (collected / stylesheet.group(1).removeprefix("/static/")).read_text()
    )

    compressed = client.get(stylesheet.group(1), headers={"accept-encoding": "gzip"})
    assert compressed["Content-Encoding"] in ("gzip", "br")


def test_the_pages_keep_their_content_security_policy_with_static_files_served(collected, db):
    page = Client().get("/login/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "default-src 'self'" in policy
    # Our script and stylesheet are same-origin files, which the policy allows.
    assert re.search(r'<script src="/static/portal\.[0-9a-f]{12}\.js"', page.content.decode())


def test_an_unhashed_name_is_served_but_cached_briefly(collected, db):
    response = Client().get("/static/portal.css")
    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]
