from datetime import UTC

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from peerings import access, services
from peerings.forms import (
    MoveResourceForm,
    PeeringForm,
    ResourceForm,
    SupportRequestForm,
)
from peerings.models import Deployment, PeeringConnection, SupportRequest


@login_required
@require_GET
def deployment_list(request):
    deployments = access.deployments_visible_to(request.user).select_related("organization")
    return render(request, "peerings/deployment_list.html", {"deployments": deployments})


@login_required
@require_GET
def deployment_detail(request, pk):
    deployment = access.deployment_for(request, pk)
    return render(request, "peerings/deployment_detail.html", _detail_context(deployment))


class _RowLinks:
    """Each row's links, from one reverse() per kind of link: with 500 peerings, thousands
    of reverse() calls were a sixth of the page's time."""

    _MARK = 987654321  # stands for the row's pk in a reversed URL

    def __init__(self, deployment):
        def pattern(name):
            return reverse(name, args=[deployment.pk, self._MARK]).replace(str(self._MARK), "{}")

        self.peering = {
            kind: pattern(f"peering-{kind}")
            for kind in ("row", "steps", "retry", "delete", "support")
        }
        self.resource = {kind: pattern(f"resource-{kind}") for kind in ("delete", "move")}

    def add_to_peering(self, peering):
        peering.links = {kind: url.format(peering.pk) for kind, url in self.peering.items()}
        return peering

    def add_to_resource(self, resource):
        resource.links = {kind: url.format(resource.pk) for kind, url in self.resource.items()}
        return resource


def _detail_context(deployment):
    """Everything the deployment page shows, from two queries however many rows: the
    peerings (current and deleted, each with its latest support request) and the
    resources; the rest is joined up here. On PostgreSQL each query was about 5 % of the
    page's time."""
    links = _RowLinks(deployment)
    peerings, history, by_pk = [], [], {}
    for peering in deployment.peerings.annotate(latest_support=_LATEST_SUPPORT_REQUEST):
        by_pk[peering.pk] = peering
        peering.latest_support_request = _support_request(peering.latest_support, peering)
        peering.bound_count = 0
        if peering.status == PeeringConnection.Status.DELETED:
            history.append(peering)
        else:
            peerings.append(links.add_to_peering(peering))
    running = [p for p in peerings if p.status == PeeringConnection.Status.RUNNING]
    resources = [links.add_to_resource(r) for r in deployment.resources.all()]
    for resource in resources:
        if resource.peering_id in by_pk:  # always: a resource's peering is of its deployment
            resource.peering = by_pk[resource.peering_id]
            resource.peering.bound_count += 1
        # Move is offered when another running peering could take the resource.
        resource.can_move = any(p.pk != resource.peering_id for p in running)
    return {
        "deployment": deployment,
        "peerings": peerings,
        "has_running": bool(running),
        "history": history,
        "resources": resources,
        "can_act": deployment.membership.can_act,
        "reserved_cidrs": settings.RESERVED_CIDRS,
        "peering_plans": _plans_with_peering(),
    }


# Each row's latest support request as one JSON object, a subquery of the peerings' query.
# Not prefetch_related (its per-row managers doubled the time of a page of 500 peerings),
# nor a query of its own (a round trip more on every page).
_LATEST_SUPPORT_REQUEST = Subquery(
    SupportRequest.objects.filter(peering=OuterRef("pk"))
    .order_by("-opened_at", "-pk")
    .values(json=JSONObject(id="pk", state="state", opened_at="opened_at", answer="answer"))[:1]
)


def _support_request(fields, peering):
    """The SupportRequest a row shows, from the subquery's JSON (None without one)."""
    if fields is None:
        return None
    opened_at = parse_datetime(fields["opened_at"])
    if timezone.is_naive(opened_at):  # SQLite keeps UTC without an offset
        opened_at = timezone.make_aware(opened_at, UTC)
    return SupportRequest(
        id=fields["id"],
        peering=peering,
        state=fields["state"],
        opened_at=opened_at,
        answer=fields["answer"],
    )


def _plans_with_peering():
    labels = dict(Deployment.Plan.choices)
    return [labels.get(plan, plan) for plan in settings.PEERING_PLANS]


def _tell(request, response, message):
    """Say what just happened: on the next page without JavaScript (a redirect follows),
    else in the page's status region (`#flash`, role=status: screen readers announce it),
    swapped out of band beside whatever the response redraws."""
    if not request.htmx:
        messages.success(request, message)
        return response
    response.content += render_to_string("peerings/_flash.html", {"message": message}).encode()
    return response


def _refresh_tables(request, deployment, message):
    """After a change made in the dialog: close it, redraw both tables and say what
    happened."""
    response = render(
        request, "peerings/deployment_detail.html#tables", _detail_context(deployment)
    )
    response["HX-Retarget"] = "#tables"
    response["HX-Reswap"] = "outerHTML"
    return _tell(request, trigger_client_event(response, "closeDialog"), message)


def _done(request, deployment, message):
    """The answer to a change made in a dialog, with or without JavaScript."""
    if request.htmx:
        return _refresh_tables(request, deployment, message)
    return _tell(request, redirect("deployment-detail", pk=deployment.pk), message)


def refuse_unless_peering_allowed(deployment):
    if not deployment.peering_allowed:
        # No button is shown on such plans; a hand-made request gets a plain refusal.
        raise Http404("VPC peering is not available on this plan.")


def _render_dialog(request, template, context):
    """The dialog fragment for htmx, the whole page without JavaScript."""
    response = render(request, f"{template}#dialog" if request.htmx else template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def peering_dialog(request, deployment, form, **extra_context):
    """The new-peering dialog; the demo's button (demo mode) renders it too, filled in."""
    context = {
        "deployment": deployment,
        "form": form,
        "reserved_cidrs": settings.RESERVED_CIDRS,
        **extra_context,
    }
    return _render_dialog(request, "peerings/peering_new.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def peering_new(request, pk):
    deployment = access.deployment_for(request, pk, to_act=True)
    refuse_unless_peering_allowed(deployment)
    if request.method == "GET":
        return peering_dialog(request, deployment, PeeringForm(deployment=deployment))
    form = PeeringForm(request.POST, deployment=deployment)
    if form.is_valid():
        try:
            peering = services.create_peering(deployment, verified=form.verified, user=request.user)
        except services.Refused as refused:
            refused.add_to(form)
    if not form.is_valid():
        # 200, not 4xx: htmx swaps it into the dialog with each message by its field.
        return peering_dialog(request, deployment, form)
    return _done(
        request,
        deployment,
        _(
            "%(peering_id)s confirmed. We are accepting it in AWS and adding our routes and "
            "rules; this takes about a minute."
        )
        % {"peering_id": peering.peering_id},
    )


def _peering_for(request, pk, peering_pk, *, to_act=False):
    deployment = access.deployment_for(request, pk, to_act=to_act)
    peering = get_object_or_404(deployment.peerings, pk=peering_pk)
    peering.deployment = deployment
    return deployment, peering


def _row(request, deployment, peering, *, open_steps=False):
    _RowLinks(deployment).add_to_peering(peering)
    peering.bound_count = peering.resources.count()
    context = {
        "deployment": deployment,
        "peering": peering,
        "can_act": deployment.membership.can_act,
        "open_steps": open_steps,
    }
    return render(request, "peerings/deployment_detail.html#peering-row", context)


@login_required
@require_GET
def peering_row(request, pk, peering_pk):
    """One row, as the page polls it while the worker is busy. The poll says which status
    it was showing (`was`): when that changes, the change is announced, and a peering that
    has just reached running opens its "Finish in your AWS account" steps."""
    deployment, peering = _peering_for(request, pk, peering_pk)
    was = request.GET.get("was", "")
    changed = was in PeeringConnection.Status.values and was != peering.status
    running = peering.status == PeeringConnection.Status.RUNNING
    response = _row(request, deployment, peering, open_steps=changed and running)
    if changed and request.htmx:
        # Only to the page that polls: a plain GET must not leave a message in the session
        # (a link could plant one).
        if running:
            message = _("%(peering_id)s is %(status)s now. Two steps are left in your AWS account.")
        else:
            message = _("%(peering_id)s is %(status)s now.")
        message %= {"peering_id": peering.peering_id, "status": peering.status_label}
        _tell(request, response, message)
    return response


@login_required
@require_GET
def peering_steps(request, pk, peering_pk):
    """The customer's own last two steps, with real values; loaded when the row's
    "Finish in your AWS account" is opened (a page of its own without JavaScript)."""
    deployment, peering = _peering_for(request, pk, peering_pk)
    if peering.status != PeeringConnection.Status.RUNNING:
        raise Http404("Only a running peering has steps left for the customer.")
    context = {"deployment": deployment, "peering": peering}
    template = (
        "peerings/peering_steps.html#steps" if request.htmx else "peerings/peering_steps.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def peering_retry(request, pk, peering_pk):
    deployment, peering = _peering_for(request, pk, peering_pk, to_act=True)
    if services.retry_peering(peering):
        message = _("Trying %(peering_id)s again.") % {"peering_id": peering.peering_id}
    else:
        message = _("%(peering_id)s cannot be retried now (it is %(status)s).") % {
            "peering_id": peering.peering_id,
            "status": peering.status_label,
        }
    if request.htmx:
        return _tell(request, _row(request, deployment, peering), message)
    url = reverse("deployment-detail", args=[deployment.pk]) + "#peerings"
    return _tell(request, redirect(url), message)


@login_required
@require_http_methods(["GET", "POST"])
def peering_delete(request, pk, peering_pk):
    deployment, peering = _peering_for(request, pk, peering_pk, to_act=True)
    refusal = services.delete_refusal(peering)
    if request.method == "POST" and refusal is None:
        try:
            services.request_delete(peering)
        except services.DeleteRefused as exc:
            refusal = exc
        else:
            return _done(
                request,
                deployment,
                _(
                    "Deleting %(peering_id)s: we remove our routes and rules, then the "
                    "connection in AWS."
                )
                % {"peering_id": peering.peering_id},
            )
    context = {"deployment": deployment, "peering": peering, "refusal": refusal}
    return _render_dialog(request, "peerings/peering_delete.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def peering_support(request, pk, peering_pk):
    """Ask the vendor's support about a failure only the vendor can fix. The dialog shows
    the failure; the answer is the peering's row, showing the request's state."""
    deployment, peering = _peering_for(request, pk, peering_pk, to_act=True)
    refusal = services.ask_support_refusal(peering)
    form = SupportRequestForm(request.POST or None)
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            services.ask_support(peering, user=request.user, words=form.cleaned_data["words"])
        except services.SupportRefused as exc:
            refusal = str(exc)
        else:
            message = _(
                "Support has your request about %(peering_id)s; their answer will show on its row."
            ) % {"peering_id": peering.peering_id}
            if request.htmx:
                response = _row(request, deployment, peering)
                response["HX-Retarget"] = f"#peering-{peering.pk}"
                response["HX-Reswap"] = "outerHTML"
                return _tell(request, trigger_client_event(response, "closeDialog"), message)
            url = reverse("deployment-detail", args=[deployment.pk]) + f"#peering-{peering.pk}"
            return _tell(request, redirect(url), message)
    latest = peering.latest_support_request
    context = {
        "deployment": deployment,
        "peering": peering,
        "form": form,
        "refusal": refusal,
        "open_request": latest if latest and latest.state == SupportRequest.State.OPEN else None,
    }
    return _render_dialog(request, "peerings/support_request.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def resource_new(request, pk):
    deployment = access.deployment_for(request, pk, to_act=True)
    form = ResourceForm(request.POST or None, deployment=deployment)
    if request.method == "POST" and form.is_valid():
        try:
            resource = services.add_resource(deployment, **form.cleaned_data)
        except services.Refused as refused:
            refused.add_to(form)
        else:
            return _done(
                request,
                deployment,
                _("%(name)s added: it reaches your VPC through %(peering_id)s.")
                % {"name": resource.name, "peering_id": resource.peering.peering_id},
            )
    context = {
        "deployment": deployment,
        "form": form,
        "has_running": form.fields["peering"].queryset.exists(),
    }
    return _render_dialog(request, "peerings/resource_new.html", context)


def _resource_for(request, pk, resource_pk):
    deployment = access.deployment_for(request, pk, to_act=True)
    resource = get_object_or_404(deployment.resources.select_related("peering"), pk=resource_pk)
    resource.deployment = deployment
    return deployment, resource


@login_required
@require_http_methods(["GET", "POST"])
def resource_move(request, pk, resource_pk):
    deployment, resource = _resource_for(request, pk, resource_pk)
    form = MoveResourceForm(request.POST or None, resource=resource)
    if request.method == "POST" and form.is_valid():
        try:
            services.move_resource(resource, to=form.cleaned_data["peering"])
        except services.Refused as refused:
            refused.add_to(form)
        else:
            return _done(
                request,
                deployment,
                _("%(name)s now reaches your VPC through %(peering_id)s.")
                % {"name": resource.name, "peering_id": resource.peering.peering_id},
            )
    context = {"deployment": deployment, "resource": resource, "form": form}
    return _render_dialog(request, "peerings/resource_move.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def resource_delete(request, pk, resource_pk):
    deployment, resource = _resource_for(request, pk, resource_pk)
    if request.method == "POST":
        services.delete_resource(resource)
        return _done(request, deployment, _("%(name)s deleted.") % {"name": resource.name})
    context = {"deployment": deployment, "resource": resource}
    return _render_dialog(request, "peerings/resource_delete.html", context)
