"""The customer's audit page made for reading: times on one line with their zone, the
filter's labels for actions, changes written in words, each event's deployment, errors next
to the filters, and no date a date field takes that breaks the page or the CSV."""

import csv
import html
import io
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import audit
from peerings.audit_display import NOTHING, Change, as_text, as_words, changes
from tests.support.factories import make_deployment

pytestmark = pytest.mark.django_db

WEB = audit.Actor(name="olivia", source="web", ip="198.51.100.9")


def record_at(monkeypatch, when, action, **kwargs):
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: when)
        return audit.record(action, actor=WEB, **kwargs)


def table_rows(response):
    """Each row of the table as its cells' HTML."""
    body = response.content.decode()
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        for row in re.findall(r'<tr class="audit-row".*?</tr>', body, re.S)
    ]


def text_of(cell):
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip()


COLUMNS = ["time", "actor", "action", "deployment", "target", "change", "source"]


def rows_as_dicts(response):
    return [dict(zip(COLUMNS, cells, strict=True)) for cells in table_rows(response)]


def messages_on(response):
    return re.findall(r"\b(?:own|foreign)-[\w-]+", response.content.decode())


def csv_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def csv_header(response):
    body = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(body)))


# --- times ---


def test_it_shows_a_time_on_one_line_in_utc_and_says_so(
    client, owner, deployment, settings, monkeypatch
):
    settings.TIME_ZONE = "Asia/Shanghai"  # the server's zone must not leak into the page
    record_at(
        monkeypatch,
        datetime(2026, 11, 30, 14, 5, 9, tzinfo=UTC),
        "peering.created",
        deployment=deployment,
    )
    client.force_login(owner)
    (row,) = rows_as_dicts(client.get(reverse("audit-log")))
    assert row["time"] == (
        '<time datetime="2026-11-30T14:05:09+00:00">2026-11-30 14:05:09 UTC</time>'
    )
    assert '<th scope="col">Time</th>' in client.get(reverse("audit-log")).content.decode()


# --- one naming for actions ---


def test_it_shows_the_action_filters_label_and_keeps_the_code(client, owner, deployment):
    audit.record("peering.created", deployment=deployment, actor=WEB)
    audit.record("webhook.secret_rotated", organization=deployment.organization, actor=WEB)
    # An action no app offers as a filter (support changed the deployment in the admin).
    audit.record("admin.deployment.changed", deployment=deployment, actor=WEB)
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    offered = dict(response.context["form"].fields["action"].choices)
    body = response.content.decode()
    shown = [text_of(row["action"]) for row in rows_as_dicts(response)]
    assert shown == [
        "admin.deployment.changed",
        offered["webhook.secret_rotated"],
        offered["peering.created"],
    ]
    assert offered["peering.created"] == "Peering created"
    # The code stays on the row, for people (a tooltip) and scripts (data-action).
    for code in ("admin.deployment.changed", "webhook.secret_rotated", "peering.created"):
        assert f'data-action="{code}"' in body
        assert f'title="{code}"' in body
    assert "<code>peering.created</code>" not in body


def test_it_exports_the_action_code_and_its_label(client, owner, deployment):
    audit.record("peering.created", deployment=deployment, actor=WEB)
    audit.record("admin.deployment.changed", deployment=deployment, actor=WEB)
    client.force_login(owner)
    exported = csv_rows(client.get(reverse("audit-export")))
    assert [(r["action"], r["action_label"]) for r in exported] == [
        ("admin.deployment.changed", "admin.deployment.changed"),
        ("peering.created", "Peering created"),
    ]


def test_it_shows_the_sources_label_in_the_readers_language_and_exports_the_code(
    client, owner, deployment
):
    audit.record("peering.created", deployment=deployment, actor=WEB, message="own-web")
    api = audit.Actor(name="olivia (API key ci, ppk_ab…)", source="api", ip="198.51.100.7")
    audit.record("peering.deleted", deployment=deployment, actor=api, message="own-api")
    client.force_login(owner)
    shown = [text_of(r["source"]) for r in rows_as_dicts(client.get(reverse("audit-log")))]
    assert shown == ["API 198.51.100.7", "Web 198.51.100.9"]
    chinese = client.get(reverse("audit-log"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert [text_of(r["source"]) for r in rows_as_dicts(chinese)] == [
        "API 198.51.100.7",
        "网页 198.51.100.9",
    ]
    exported = csv_rows(client.get(reverse("audit-export"), HTTP_ACCEPT_LANGUAGE="zh-CN"))
    assert [(r["message"], r["source"]) for r in exported] == [
        ("own-api", "api"),
        ("own-web", "web"),
    ]


def test_it_adds_the_new_csv_columns_after_the_ones_scripts_already_read(client, owner):
    client.force_login(owner)
    assert csv_header(client.get(reverse("audit-export"))) == [
        "time",
        "actor",
        "source",
        "ip",
        "request_id",
        "action",
        "target_type",
        "target_id",
        "target",
        "message",
        "before",
        "after",
        "action_label",
        "deployment",
        "message_code",
    ]


# --- the deployment column ---


def test_it_names_each_events_deployment_or_shows_a_dash(client, owner, organization):
    orders = make_deployment(organization, name="orders")
    audit.record("peering.created", deployment=orders, actor=WEB, message="own-peering")
    audit.record("webhook.created", organization=organization, actor=WEB, message="own-hook")
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    assert [text_of(r["deployment"]) for r in rows_as_dicts(response)] == [NOTHING, "orders"]
    assert '<th scope="col">Deployment</th>' in response.content.decode()
    exported = csv_rows(client.get(reverse("audit-export")))
    assert [(r["message"], r["deployment"]) for r in exported] == [
        ("own-hook", ""),
        ("own-peering", "orders"),
    ]


def test_it_names_only_the_own_organizations_deployments(client, owner, organization, outsider):
    mine = make_deployment(organization, name="mine-dep")
    theirs = make_deployment(
        outsider.memberships.get().organization, name="theirs-dep", vpc_id="vpc-0ffffffffffffffff"
    )
    audit.record("peering.created", deployment=mine, actor=WEB, message="own-1")
    audit.record("peering.created", deployment=theirs, actor=WEB, message="foreign-1")
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    assert messages_on(response) == ["own-1"]
    assert "theirs-dep" not in response.content.decode()
    exported = b"".join(client.get(reverse("audit-export")).streaming_content).decode()
    assert "theirs-dep" not in exported and "foreign-1" not in exported


def page_queries(client):
    url = reverse("audit-log")
    client.get(url)  # warm caches (sessions, content types) before counting
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), len(table_rows(response))


def test_it_names_the_deployments_without_a_query_per_row(client, owner, organization):
    client.force_login(owner)
    first = make_deployment(organization, name="dep-0")
    audit.record("peering.created", deployment=first, actor=WEB)
    few, shown = page_queries(client)
    assert shown == 1
    for n in range(1, 60):
        deployment = make_deployment(organization, name=f"dep-{n}", vpc_id=f"vpc-0{n:016x}")
        audit.record("peering.created", deployment=deployment, actor=WEB)
    many, shown = page_queries(client)
    assert shown == 50
    assert few == many


def test_it_pages_the_events_without_joining_them_to_their_deployments(client, owner, deployment):
    """Names come in a query of their own: with a join, SQLite joins every matching event
    before it sorts and cuts the page (260 ms instead of 15 at 300,000 events)."""
    audit.record("peering.created", deployment=deployment, actor=WEB)
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("audit-log"))
    (page,) = [q["sql"] for q in queries if 'FROM "peerings_auditevent"' in q["sql"]]
    assert '"peerings_deployment"' not in page


# --- changes, written for people ---


def test_it_writes_changes_in_words_without_python_reprs(client, owner, deployment):
    audit.record(
        "peering.created",
        deployment=deployment,
        actor=WEB,
        after={
            "peering_id": "pcx-0123456789abcdef0",
            "customer_cidrs": ["172.16.0.0/24", "172.16.1.0/24"],
            "status": "pending",
        },
    )
    audit.record(
        "peering.running",
        deployment=deployment,
        actor=WEB,
        before={"status": "provisioning", "status_reason": ""},
        after={"status": "running", "status_reason": ""},
        message="Routes and rules are in place.",
    )
    client.force_login(owner)
    response = client.get(reverse("audit-log"))
    running, created = (text_of(r["change"]) for r in rows_as_dicts(response))
    assert running == "status: provisioning → running Routes and rules are in place."
    assert created == (
        "customer CIDRs: 172.16.0.0/24, 172.16.1.0/24 "
        "peering ID: pcx-0123456789abcdef0 "
        "status: pending"
    )
    table = response.content.decode().split('id="audit-table"')[1]
    assert not re.search(r"[\[{](&#x27;|')|(&#x27;|')[\]}]", table)
    assert "status_reason" not in table and "status reason" not in table
    for python_word in ("None", "True", "False"):
        assert python_word not in table


def test_it_escapes_what_people_typed_into_an_event(client, owner, organization):
    tricky = make_deployment(organization, name="<i>dep</i>")
    audit.record(
        "resource.created",
        deployment=tricky,
        actor=audit.Actor(name="<b>eve</b>", source="web"),
        after={"name": "<script>alert(1)</script>", "hosts": ["<img src=x>"]},
        message="<em>hi</em>",
    )
    client.force_login(owner)
    body = client.get(reverse("audit-log")).content.decode()
    for typed in ("<i>dep</i>", "<b>eve</b>", "<script>alert(1)</script>", "<img src=x>"):
        assert typed not in body
        assert html.escape(typed) in body
    assert "<em>hi</em>" not in body


def test_it_shows_a_changed_value_as_before_and_after():
    assert [str(c) for c in changes({"status": "pending"}, {"status": "running"})] == [
        "status: pending → running"
    ]


def test_it_shows_a_value_that_did_not_change_once():
    assert [str(c) for c in changes({"port": 3306}, {"port": 3306})] == ["port: 3306"]


def test_it_hides_empty_values():
    assert (
        changes(
            {"status_reason": "", "cidrs": []},
            {"status_reason": "", "cidrs": [], "note": None, "extra": {}, "blank": "  "},
        )
        == []
    )


def test_it_shows_a_cleared_value_as_cleared():
    (line,) = changes({"status_reason": "Peering not found"}, {"status_reason": ""})
    assert line == Change("status reason", "Peering not found", "")
    assert str(line) == f"status reason: Peering not found → {NOTHING}"


def test_it_shows_what_a_deleted_thing_had():
    deleted = changes({"name": "orders-db", "host": "10.0.0.5", "port": 3306}, {})
    assert [str(c) for c in deleted] == ["host: 10.0.0.5", "name: orders-db", "port: 3306"]


def test_it_joins_lists_with_commas():
    assert as_text(["172.16.0.0/24", "", "172.16.1.0/24"]) == "172.16.0.0/24, 172.16.1.0/24"


def test_it_writes_yes_no_nested_values_and_times_for_people():
    assert as_text(True) == "yes" and as_text(False) == "no"
    assert as_text(0) == "0"
    assert as_text({"event_id": "e1", "empty": None}) == "event ID: e1"
    assert as_text("2026-11-30 14:05:09.123456+00:00") == "2026-11-30 14:05:09 UTC"
    assert as_text("2026-11-30T15:05:09+01:00") == "2026-11-30 14:05:09 UTC"
    assert as_text("2026-11-30") == "2026-11-30"  # a date, not a moment: as it is
    assert as_text("2026-11-30 and more text") == "2026-11-30 and more text"


def test_it_spells_keys_as_words():
    assert as_words("status_reason") == "status reason"
    assert as_words("customer_vpc_id") == "customer VPC ID"
    assert as_words("customer_cidrs") == "customer CIDRs"
    assert as_words("aws_error") == "AWS error"
    assert as_words("url") == "URL"


def test_it_leaves_out_reconciles_findings_as_the_page_always_did():
    after = {"aws_status": "active", "findings": ["Route 172.16.0.0/24 was missing"]}
    assert [str(c) for c in changes({}, after)] == ["AWS status: active"]


def test_it_reads_a_missing_or_odd_before_and_after_as_nothing():
    assert changes(None, None) == []
    assert changes([], "text") == []


def test_it_lists_the_keys_in_one_order_whatever_order_the_database_kept():
    assert changes({}, {"status": "running", "aws_status": "active"}) == changes(
        {}, {"aws_status": "active", "status": "running"}
    )
    assert [c.field for c in changes({}, {"status": "running", "aws_status": "active"})] == [
        "AWS status",
        "status",
    ]


# --- filters: errors next to the field, in step with the URL ---


def test_it_says_from_must_be_on_or_before_to_next_to_from(client, owner, deployment, monkeypatch):
    record_at(
        monkeypatch,
        datetime(2026, 1, 10, 12, tzinfo=UTC),
        "peering.created",
        message="own-jan",
        deployment=deployment,
    )
    record_at(
        monkeypatch,
        datetime(2026, 3, 20, 12, tzinfo=UTC),
        "peering.running",
        message="own-mar",
        deployment=deployment,
    )
    client.force_login(owner)
    params = {"since": "2026-03-01", "until": "2026-02-01"}
    response = client.get(reverse("audit-log"), params)
    assert response.status_code == 200
    body = response.content.decode()
    since_filter = re.search(r'<input[^>]*name="since".*?</div>', body, re.S).group(0)
    assert 'aria-describedby="errors-since"' in since_filter
    assert re.search(
        r'id="errors-since"[^>]*><ul class="errorlist"><li>From must be on or before To\.',
        since_filter,
    )
    assert "From must be on or before To" not in body.replace(since_filter, "")
    # The bad From is not applied; To still is, on the page and in the CSV alike.
    assert messages_on(response) == ["own-jan"]
    exported = csv_rows(client.get(reverse("audit-export"), params))
    assert [r["message"] for r in exported] == ["own-jan"]


def test_it_takes_from_and_to_on_the_same_day(client, owner, deployment, monkeypatch):
    record_at(
        monkeypatch,
        datetime(2026, 2, 1, 23, 59, tzinfo=UTC),
        "peering.created",
        message="own-late",
        deployment=deployment,
    )
    client.force_login(owner)
    response = client.get(reverse("audit-log"), {"since": "2026-02-01", "until": "2026-02-01"})
    assert messages_on(response) == ["own-late"]
    assert "errorlist" not in response.content.decode()


def test_it_sends_the_fields_errors_with_an_htmx_update(client, owner, deployment):
    client.force_login(owner)
    response = client.get(
        reverse("audit-log"),
        {"since": "2026-03-01", "until": "2026-02-01"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="events">')
    assert 'id="audit-filters"' not in body  # the fields stay as the person left them
    assert re.search(
        r'<div class="field-errors" id="errors-since"[^>]*hx-swap-oob="true"[^>]*>'
        r'<ul class="errorlist"><li>From must be on or before To\.',
        body,
    )
    # The other fields' boxes come too, empty: an error put right goes away.
    assert re.search(
        r'<div class="field-errors" id="errors-until"[^>]*hx-swap-oob="true"[^>]*></div>', body
    )


def test_it_answers_a_history_restore_with_the_whole_page_as_the_url_says(
    client, owner, deployment
):
    """htmx puts what it gets in place of the whole <body> when Back reaches a page missing
    from its history cache: a bare update there would leave a page without its filters."""
    audit.record("peering.running", deployment=deployment, actor=WEB, message="own-running")
    audit.record("peering.created", deployment=deployment, actor=WEB, message="own-created")
    client.force_login(owner)
    response = client.get(
        reverse("audit-log"),
        {"action": "peering.running"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    body = response.content.decode()
    assert "<html" in body and 'id="audit-filters"' in body
    assert re.search(r'<option value="peering.running" selected>', body)
    assert messages_on(response) == ["own-running"]
    assert "HX-History-Restore-Request" in response["Vary"]


# --- no date a date field takes breaks the page or the CSV ---

ALL, NONE = ["own-2", "own-1"], []


@pytest.mark.parametrize(
    ("params", "shown", "error"),
    [
        ({"until": "9999-12-31"}, ALL, None),
        ({"since": "0001-01-01"}, ALL, None),
        ({"since": "0001-01-01", "until": "9999-12-31"}, ALL, None),
        ({"until": "0001-01-01"}, NONE, None),
        ({"since": "9999-12-31"}, NONE, None),
        ({"since": "9999-12-31", "until": "9999-12-31"}, NONE, None),
        ({"since": "9999-12-31", "until": "0001-01-01"}, NONE, "From must be on or before To."),
        ({"since": "10000-01-01"}, ALL, "Enter a valid date."),
        ({"until": "0000-12-31"}, ALL, "Enter a valid date."),
        ({"until": "2026-02-30"}, ALL, "Enter a valid date."),
    ],
)
def test_it_takes_any_date_on_the_page_and_in_the_csv(
    client, owner, deployment, params, shown, error
):
    audit.record("peering.created", deployment=deployment, actor=WEB, message="own-1")
    audit.record("peering.created", deployment=deployment, actor=WEB, message="own-2")
    client.force_login(owner)
    response = client.get(reverse("audit-log"), params)
    assert response.status_code == 200
    assert messages_on(response) == shown
    errors = re.findall(r'<ul class="errorlist"><li>(.*?)</li>', response.content.decode())
    assert errors == ([error] if error else [])
    htmx = client.get(reverse("audit-log"), params, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and messages_on(htmx) == shown
    exported = csv_rows(client.get(reverse("audit-export"), params))
    assert [r["message"] for r in exported] == shown
