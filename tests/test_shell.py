"""The console's shell, as the server renders it: the landmarks, navigation and dialog every
page shares, the error pages (the suite runs with DEBUG off, as production does), the
favicon, and `make run`'s settings."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.template.loader import render_to_string
from django.test import Client
from django.urls import include, path, reverse

ROOT = Path(__file__).resolve().parent.parent


def broken_view(request):
    raise RuntimeError("a bug")


# The portal's URLs plus one view that fails (@pytest.mark.urls("tests.test_shell")).
urlpatterns = [path("broken/", broken_view), path("", include("peering_portal.urls"))]


def test_every_page_has_the_shell(client, owner, deployment):
    client.force_login(owner)
    page = client.get(reverse("deployment-detail", args=[deployment.pk])).content.decode()
    assert page.index('<a class="skip-link" href="#main">Skip to content</a>') < page.index(
        '<header class="topbar">'
    )
    assert '<main id="main" tabindex="-1">' in page
    assert '<div id="live" class="visually-hidden" aria-live="polite"></div>' in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    dialog = page[page.index('<dialog id="dialog"') : page.index("</dialog>")]
    assert '<button type="submit" aria-label="Close">×</button>' in dialog
    assert '<form method="dialog"' in dialog
    assert 'aria-live="polite"' in dialog  # the page around a modal dialog is inert


def test_the_header_marks_the_section_and_the_page(client, owner, deployment):
    client.force_login(owner)
    listing = client.get(reverse("deployment-list")).content.decode()
    assert '<a href="/deployments/" aria-current="page">Deployments</a>' in listing
    assert '<a href="/audit/">Audit log</a>' in listing
    detail = client.get(reverse("deployment-detail", args=[deployment.pk])).content.decode()
    assert '<a href="/deployments/" aria-current="true">Deployments</a>' in detail
    audit = client.get(reverse("audit-log")).content.decode()
    assert '<a href="/audit/" aria-current="page">Audit log</a>' in audit
    assert '<a href="/deployments/">Deployments</a>' in audit


def test_pages_carry_breadcrumbs(client, owner, deployment):
    client.force_login(owner)
    detail = client.get(reverse("deployment-detail", args=[deployment.pk])).content.decode()
    assert (
        '<nav aria-label="Breadcrumb"><ol class="breadcrumbs">'
        '<li><a href="/deployments/">Deployments</a></li>'
        '<li><span aria-current="page">orders</span></li></ol></nav>'
    ) in detail
    for name in ("deployment-list", "audit-log", "webhook-list"):
        assert 'aria-label="Breadcrumb"' in client.get(reverse(name)).content.decode(), name
    new_endpoint = reverse("webhook-new", args=[deployment.organization_id])
    assert (
        '<li><a href="/webhooks/">Webhooks</a></li>'
        '<li><span aria-current="page">New webhook endpoint</span></li>'
    ) in client.get(new_endpoint).content.decode()


def test_messages_are_a_status_list(rf, owner):
    request = rf.get("/")
    request.user = owner
    request._messages = CookieStorage(request)
    messages.success(request, "Webhook endpoint saved.")
    html = render_to_string("peerings/deployment_list.html", {"deployments": []}, request)
    assert (
        '<div role="status"><ul class="messages">'
        '<li class="message success">Webhook endpoint saved.</li></ul></div>'
    ) in html


def test_a_field_in_error_is_described_by_its_error(client, owner, organization):
    client.force_login(owner)
    response = client.post(reverse("webhook-new", args=[organization.pk]), {"url": "nope"})
    page = response.content.decode()
    field = re.search(r'<input type="text" name="url"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field
    described_by = re.search(r'aria-describedby="([^"]+)"', field).group(1).split()
    assert described_by == ["id_url_helptext", "id_url_error"]
    for id_ in described_by:
        assert f'id="{id_}"' in page


def test_every_table_header_has_a_scope():
    templates = [p for p in ROOT.glob("*/templates/**/*.html") if "node_modules" not in p.parts]
    assert len(templates) > 10
    unscoped = [
        f"{p.relative_to(ROOT)}: {tag}"
        for p in templates
        for tag in re.findall(r"<th\b[^>]*>", p.read_text())
        if "scope=" not in tag
    ]
    assert unscoped == []


def test_a_missing_page_is_our_404(client, owner):
    client.force_login(owner)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    page = response.content.decode()
    assert "<h1>Page not found</h1>" in page
    assert '<main id="main" tabindex="-1">' in page
    assert "Log out" in page  # the shell, with the user's menu


def test_a_forbidden_action_is_our_403_with_the_reason(client, viewer, deployment):
    client.force_login(viewer)
    response = client.get(reverse("peering-new", args=[deployment.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>You can't do that here</h1>" in page
    assert "Viewers can look but not change anything." in page
    assert '<main id="main" tabindex="-1">' in page


@pytest.mark.urls("tests.test_shell")
def test_a_crash_is_our_500(db):
    client = Client(raise_request_exception=False)
    response = client.get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong on our side</h1>" in page
    assert '<link rel="stylesheet" href="/static/portal.css">' in page


def test_the_500_page_needs_no_request_and_no_database():
    # No `db` fixture: pytest-django refuses any query, as a broken database would.
    page = render_to_string("500.html")
    assert "<h1>Something went wrong on our side</h1>" in page
    assert '<link rel="stylesheet" href="/static/portal.css">' in page
    assert "Log out" not in page


def test_favicon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    assert (ROOT / "static" / "favicon.svg").read_text().startswith("<svg ")


def test_make_run_runs_with_debug_off_and_serves_its_static_files(monkeypatch):
    # What `make run` starts with in a plain shell, not in this suite's environment.
    for name in ("DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as `python scripts/devstack.py` has it
    devstack = runpy.run_path(str(ROOT / "scripts" / "devstack.py"))
    # As in production: the collected files, served by WhiteNoise (not runserver's --insecure).
    assert ("collectstatic", "--no-input", "-v", "0") in devstack["PREPARE"]
    assert "--insecure" not in devstack["RUNSERVER"]
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE)",
        ],
        cwd=ROOT,
        env={**devstack["ENV"], "DJANGO_SETTINGS_MODULE": "peering_portal.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["False", "False", "False"]
