from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.models import Membership
from webhooks import access, services
from webhooks.forms import EndpointForm, RotateForm
from webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVERIES_SHOWN = 25


@login_required
@require_GET
def endpoint_list(request):
    """The endpoints of each organization the user belongs to, for every role; only owners
    get links to manage them. Two queries, whatever the number of endpoints."""
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    )
    latest = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-created_at", "-id")
    endpoints = WebhookEndpoint.objects.filter(
        organization__memberships__user=request.user
    ).annotate(
        last_status=Subquery(latest.values("status")[:1]),
        last_created_at=Subquery(latest.values("created_at")[:1]),
    )
    by_organization = defaultdict(list)
    for endpoint in endpoints:
        by_organization[endpoint.organization_id].append(endpoint)
    sections = [
        {
            "organization": m.organization,
            "is_owner": m.role == Membership.Role.OWNER,
            "endpoints": by_organization[m.organization_id],
        }
        for m in memberships
    ]
    return render(request, "webhooks/endpoint_list.html", {"sections": sections})


def _show_secret(request, endpoint, *, created):
    """The one response that contains the secret: straight from the POST that made it,
    never stored in the session, never cached."""
    context = {"endpoint": endpoint, "secret": endpoint.secret, "created": created}
    response = render(request, "webhooks/endpoint_secret.html", context)
    add_never_cache_headers(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_new(request, organization_pk):
    organization = access.organization_for_owner(request, organization_pk)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = services.create_endpoint(organization, **form.cleaned_data)
        return _show_secret(request, endpoint, created=True)
    return render(
        request, "webhooks/endpoint_form.html", {"form": form, "organization": organization}
    )


def _detail_context(endpoint, problem=None):
    deliveries = list(endpoint.deliveries.prefetch_related("attempts")[:DELIVERIES_SHOWN])
    # Poll while a send is due now; a delivery waiting minutes for its retry shows when.
    sending = any(
        d.status == WebhookDelivery.Status.PENDING and d.next_attempt_at is None for d in deliveries
    )
    return {"endpoint": endpoint, "deliveries": deliveries, "sending": sending, "problem": problem}


def _deliveries(request, endpoint, problem=None):
    response = render(
        request, "webhooks/endpoint_detail.html#deliveries", _detail_context(endpoint, problem)
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def endpoint_detail(request, endpoint_pk):
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    if request.htmx:
        return _deliveries(request, endpoint)
    response = render(request, "webhooks/endpoint_detail.html", _detail_context(endpoint))
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, endpoint_pk):
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    initial = {field: getattr(endpoint, field) for field in services.EDITABLE_FIELDS}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if services.update_endpoint(endpoint, **form.cleaned_data):
            messages.success(request, gettext("Webhook endpoint saved."))
        return redirect("webhook-detail", endpoint_pk=endpoint.pk)
    return render(
        request,
        "webhooks/endpoint_form.html",
        {"form": form, "organization": endpoint.organization, "endpoint": endpoint},
    )


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_rotate(request, endpoint_pk):
    """GET asks for confirmation; POST replaces the secret and shows the new one once."""
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.rotate_secret(endpoint, keep_previous_for=form.overlap())
        return _show_secret(request, endpoint, created=False)
    return render(request, "webhooks/endpoint_rotate.html", {"endpoint": endpoint, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_delete(request, endpoint_pk):
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    if request.method == "POST":
        services.delete_endpoint(endpoint)
        messages.success(
            request, gettext("Webhook endpoint %(url)s deleted.") % {"url": endpoint.url}
        )
        return redirect("webhook-list")
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})


@login_required
@require_POST
def delivery_resend(request, endpoint_pk, delivery_pk):
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    delivery = get_object_or_404(endpoint.deliveries, pk=delivery_pk)
    delivery.endpoint = endpoint
    problem = services.resend_delivery(delivery)
    if request.htmx:
        return _deliveries(request, endpoint, problem)
    if problem:
        messages.error(request, problem)
    else:
        messages.success(request, gettext("Sent again."))
    return redirect("webhook-detail", endpoint_pk=endpoint.pk)


@login_required
@require_POST
def endpoint_test(request, endpoint_pk):
    endpoint = access.endpoint_for_owner(request, endpoint_pk)
    services.send_test_event(endpoint)
    if request.htmx:
        return _deliveries(request, endpoint)
    messages.success(request, gettext("Test event queued."))
    return redirect("webhook-detail", endpoint_pk=endpoint.pk)
