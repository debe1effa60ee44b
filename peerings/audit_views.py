"""The organization's audit log: the page (filterable, keyset-paginated) and its CSV
export. Customers see the vendor's support staff as "<vendor> support", never by name."""

import csv
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from core import reasons
from core.access import organizations_of
from core.models import AuditEvent
from peerings import access, audit_display
from peerings.forms import (
    AuditFilterForm,
)

AUDIT_PAGE_SIZE = 50


def _audit_events(request):
    organizations = organizations_of(request.user)
    form = AuditFilterForm(
        request.GET or None, deployments=access.deployments_visible_to(request.user)
    )
    events = AuditEvent.objects.filter(organization__in=organizations)
    events, before = form.filter(events)
    return form, events, before


@login_required
@require_GET
def audit_log(request):
    """The organization's events, newest first. Keyset pagination on the id: page 1,000
    costs what page 1 costs, an index range scan, never an OFFSET."""
    form, events, before = _audit_events(request)
    if before:
        events = events.filter(id__lt=before)
    # The deployments' names in one more query, however many rows. Not a join
    # (select_related): SQLite then joins every matching event before it sorts and cuts
    # the page, and the first page of 300,000 events went from 15 ms to 260 ms.
    page = list(events.prefetch_related("deployment").order_by("-id")[: AUDIT_PAGE_SIZE + 1])
    older = page[AUDIT_PAGE_SIZE - 1].id if len(page) > AUDIT_PAGE_SIZE else None
    labels = audit_display.action_labels()
    for event in page:
        event.actor_label, event.ip, event.request_id = as_customers_see(
            event.actor_name, event.source, event.ip, event.request_id, event.by_support
        )
        event.action_label = audit_display.action_label(event.action, labels)
        event.changes = audit_display.changes(event.before, event.after)
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "events": page[:AUDIT_PAGE_SIZE],
        "older": older,
        "query": query.urlencode(),
        "first_page": not before,
    }
    # htmx asks for the whole page, not an update, when it restores a page missing from its
    # history cache: it puts the answer in place of the whole <body>.
    update = request.htmx and not request.htmx.history_restore_request
    response = render(
        request, "peerings/audit.html#update" if update else "peerings/audit.html", context
    )
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def as_customers_see(actor_name, source, ip, request_id, by_support):
    """(actor, IP, request ID) as a customer may see them: the vendor's support staff, in
    the admin or through work they queued, appear as the vendor's support, without their
    usernames, addresses or request IDs (which would tie their events together)."""
    if source == AuditEvent.Source.ADMIN or by_support:
        return f"{settings.VENDOR_NAME} support", None, ""
    return actor_name or "system", ip, request_id


class _Echo:
    def write(self, value):
        return value


@login_required
@require_GET
def audit_export(request):
    """The filtered events as CSV, streamed row by row: a million rows never sit in memory.
    The columns for people (message, action_label) in the reader's language, beside the
    machine's (action, message_code, before and after as stored)."""
    _form, events, _before = _audit_events(request)
    writer = csv.writer(_Echo())
    columns = [
        "created_at",
        "actor_name",
        "source",
        "ip",
        "request_id",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "message",
        "by_support",
        "deployment__name",
        "message_code",
        "message_params",
    ]

    def rows():
        yield writer.writerow(
            [
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
                # Added at the end, so that scripts reading the columns by position still work.
                "action_label",
                "deployment",
                "message_code",
            ]
        )
        labels = audit_display.action_labels()
        for event in (
            events.order_by("-id")
            .values_list(*columns, "before", "after")
            .iterator(chunk_size=2000)
        ):
            *values, by_support, deployment, message_code, message_params, before, after = event
            values[0] = values[0].isoformat()
            values[1], values[3], values[4] = as_customers_see(*values[1:5], by_support)
            values[9] = reasons.render(message_code, message_params, fallback=values[9])
            added = [audit_display.action_label(values[5], labels), deployment, message_code]
            yield writer.writerow(
                [_csv_safe(v) for v in values]
                + [json.dumps(before), json.dumps(after)]
                + [_csv_safe(v) for v in added]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


def _csv_safe(value):
    # A cell starting with = + - @ runs as a formula in a spreadsheet; defuse it.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
