"""The REST API's views: thin, as the UI's are. They look rows up in the key's
organization, check the key's role, and call the same forms and services as the UI, whose
refusals they turn into problems (api.problems)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from api import idempotency, problems, serializers
from api.base import ApiView, Cursor, as_pk
from core.models import AuditEvent
from core.reasons import Reason
from peerings import ratebudget, services
from peerings.audit_views import as_customers_see
from peerings.forms import AuditFilterForm, MoveResourceForm, PeeringForm, ResourceForm
from peerings.models import Deployment, PeeringConnection, Resource
from peerings.services.checks import database_problems

# How long a client should wait before asking again while the worker is busy.
BUSY_RETRY_AFTER = 10

INT_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
PEERING_ID = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Our ID, or the peering's AWS ID (pcx-…): import by either.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): the same key and body within 24 hours get "
    "the same answer again, and nothing is done twice.",
)


def _url(name, pk):
    return reverse(name, kwargs={"id": pk})


class _Lookups:
    # Rows of the key's organization only: another organization's ID reads as missing.
    # (A comment, not a docstring: drf-spectacular would print it on every operation.)

    def deployments(self):
        return Deployment.objects.filter(organization_id=self.request.auth.organization_id)

    def deployment(self, ref):
        pk = as_pk(ref)
        deployment = self.deployments().filter(pk=pk).first() if pk else None
        if deployment is None:
            raise problems.Problem(404, "not_found", "No such deployment.")
        return deployment

    def peerings(self):
        return (
            PeeringConnection.objects.filter(
                deployment__organization_id=self.request.auth.organization_id
            )
            .exclude(status=PeeringConnection.Status.DELETED)
            .select_related("deployment")
        )

    def peering(self, ref, *, among=None):
        rows = self.peerings() if among is None else among
        pk = as_pk(ref)
        if pk:
            peering = rows.filter(pk=pk).first()
        elif str(ref).lower().startswith("pcx-"):
            peering = rows.filter(peering_id=str(ref).lower()).order_by("-id").first()
        else:
            peering = None
        if peering is None:
            raise problems.Problem(404, "not_found", "No such VPC peering (or it was deleted).")
        return peering

    def resource(self, ref):
        pk = as_pk(ref)
        rows = Resource.objects.filter(
            deployment__organization_id=self.request.auth.organization_id
        ).select_related("deployment", "peering")
        resource = rows.filter(pk=pk).first() if pk else None
        if resource is None:
            raise problems.Problem(404, "not_found", "No such resource.")
        return resource

    def body(self):
        if not isinstance(self.request.data, dict):
            raise problems.refused({None: ["Send a JSON object."]})
        return self.request.data


class _View(_Lookups, ApiView):
    pass


def _form_refusal(form):
    # As ValidationErrors, for their codes (a Refused's reasons keep theirs, see add_to).
    return problems.refused(form.errors.as_data())


@extend_schema(tags=["deployments"])
class DeploymentList(mixins.ListModelMixin, _View):
    serializer_class = serializers.DeploymentSerializer
    pagination_class = Cursor

    def get_queryset(self):
        return self.deployments()

    @extend_schema(summary="List the organization's deployments")
    def get(self, request):
        return self.list(request)


@extend_schema(tags=["deployments"], parameters=[INT_ID])
class DeploymentDetail(_View):
    serializer_class = serializers.DeploymentSerializer

    @extend_schema(summary="A deployment, with the values a peering request needs")
    def get(self, request, id):
        return Response(self.get_serializer(self.deployment(id)).data)


@extend_schema(tags=["peerings"], parameters=[INT_ID])
class DeploymentPeerings(mixins.ListModelMixin, _View):
    serializer_class = serializers.PeeringSerializer
    pagination_class = Cursor

    def get_queryset(self):
        return self.peerings().filter(deployment=self.deployment(self.kwargs["id"]))

    @extend_schema(summary="List a deployment's VPC peerings (deleted ones are gone)")
    def get(self, request, id):
        return self.list(request)

    @extend_schema(
        summary="Confirm a VPC peering request made in your AWS account",
        description="Runs the dialog's checks against AWS, then returns at once (202) with "
        "status `pending`; poll the `Location` until `running` or `failed`.",
        parameters=[IDEMPOTENCY_KEY],
        request=serializers.PeeringCreateSerializer,
        responses={202: serializers.PeeringSerializer},
    )
    def post(self, request, id):
        return idempotency.answer_once(self, request, lambda: self._create(request, id))

    def _create(self, request, id):
        deployment = self.deployment(id)
        self.require_write()
        data = self.body()
        if not deployment.peering_allowed:
            plan = str(deployment.get_plan_display())
            raise problems.refused({None: [Reason("plan_not_allowed", {"plan": plan})]})
        form = PeeringForm(data, deployment=deployment)
        self._refuse_duplicates(
            deployment,
            peering_id=form.fields["peering_id"].to_python(data.get("peering_id")),
            vpc_id=form.fields["vpc_id"].to_python(data.get("vpc_id")),
        )
        # The checks ask AWS below the dialog's level: a program's burst must not leave a
        # person waiting on the page without tokens.
        with ratebudget.priority(ratebudget.Priority.API):
            if form.is_valid():
                try:
                    peering = services.create_peering(
                        deployment, verified=form.verified, user=request.user
                    )
                except services.Refused as refused:
                    refused.add_to(form)
        if not form.is_valid():
            codes = {e.code for e in form.non_field_errors().as_data()}
            if "aws_unavailable" in codes:
                raise problems.Problem(
                    503,
                    "aws_unavailable",
                    form.non_field_errors()[0],
                    retry_after=60,
                )
            raise _form_refusal(form)
        url = _url("api-peering", peering.pk)
        data = self.get_serializer(peering).data
        return Response(data, status=202, headers={"Location": url})

    def _refuse_duplicates(self, deployment, *, peering_id, vpc_id):
        """A peering ID or VPC already live: 409 pointing at the existing peering (when it
        is the key's organization's to read), so that a client can adopt it."""
        errors = database_problems(deployment, peering_id=peering_id, vpc_id=vpc_id)
        if not errors:
            return
        live = PeeringConnection.objects.exclude(status__in=PeeringConnection.ENDED)
        if "peering_id" in errors:
            existing = live.filter(peering_id=peering_id).select_related("deployment").first()
        else:
            existing = live.filter(deployment=deployment, customer_vpc_id=vpc_id).first()
            if existing is not None:
                existing.deployment = deployment
        visible = existing is not None and (
            existing.deployment.organization_id == self.request.auth.organization_id
        )
        raise problems.conflict(
            "duplicate",
            "A live VPC peering already has this peering ID or VPC.",
            errors=errors,
            location=_url("api-peering", existing.pk) if visible else None,
        )


def _busy(peering, detail):
    return problems.conflict(
        "in_progress",
        f"{detail} {peering.peering_id} is {peering.status}; ask again once it is stable.",
        retry_after=BUSY_RETRY_AFTER,
        extra={"peering_status": peering.status},
    )


@extend_schema(tags=["peerings"], parameters=[PEERING_ID])
class PeeringDetail(_View):
    serializer_class = serializers.PeeringSerializer

    @extend_schema(summary="A VPC peering: its status, why, and what is left to do")
    def get(self, request, id):
        return Response(self.get_serializer(self.peering(id)).data)

    @extend_schema(
        summary="Delete a VPC peering",
        description="Allowed once running, failed or deleted in AWS, and only with no "
        "resources bound (409 names them). Returns at once (202) with status `deleting`; "
        "the peering reads 404 once deleted.",
        responses={202: serializers.PeeringSerializer},
    )
    def delete(self, request, id):
        peering = self.peering(id)
        self.require_write()
        refusal = services.delete_refusal(peering)
        if refusal is None:
            try:
                services.request_delete(peering)
            except services.DeleteRefused as exc:
                refusal = exc
                peering.refresh_from_db()
        if refusal is not None:
            raise self._refusal(peering, refusal)
        data = self.get_serializer(peering).data
        return Response(data, status=202, headers={"Location": _url("api-peering", peering.pk)})

    def _refusal(self, peering, refusal):
        if refusal.resources:
            return problems.conflict(
                "resources_bound",
                str(refusal),
                extra={
                    "resources": [
                        {"id": r.pk, "name": r.name, "url": _url("api-resource", r.pk)}
                        for r in refusal.resources
                    ]
                },
            )
        if peering.is_transitional:
            return _busy(peering, "Not now:")
        return problems.conflict(
            "not_deletable", str(refusal), extra={"peering_status": peering.status}
        )


@extend_schema(tags=["peerings"], parameters=[PEERING_ID])
class PeeringRetry(_View):
    serializer_class = serializers.PeeringSerializer

    @extend_schema(
        summary="Try a failed VPC peering again",
        description="Only when `retryable` is true; returns at once (202) with status `pending`.",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={202: serializers.PeeringSerializer},
    )
    def post(self, request, id):
        return idempotency.answer_once(self, request, lambda: self._retry(id))

    def _retry(self, id):
        peering = self.peering(id)
        self.require_write()
        if not services.retry_peering(peering):
            peering.refresh_from_db()
            if peering.is_transitional:
                raise _busy(peering, "Already at work:")
            raise problems.conflict(
                "not_retryable",
                f"{peering.peering_id} cannot be retried now (it is {peering.status_label}).",
                extra={"peering_status": peering.status},
            )
        data = self.get_serializer(peering).data
        return Response(data, status=202, headers={"Location": _url("api-peering", peering.pk)})


@extend_schema(tags=["resources"], parameters=[INT_ID])
class DeploymentResources(mixins.ListModelMixin, _View):
    serializer_class = serializers.ResourceSerializer
    pagination_class = Cursor

    def get_queryset(self):
        return self.deployment(self.kwargs["id"]).resources.all()

    @extend_schema(summary="List a deployment's resources")
    def get(self, request, id):
        return self.list(request)

    @extend_schema(
        summary="Bind a resource to a running VPC peering",
        parameters=[IDEMPOTENCY_KEY],
        request=serializers.ResourceCreateSerializer,
        responses={201: serializers.ResourceSerializer},
    )
    def post(self, request, id):
        return idempotency.answer_once(self, request, lambda: self._create(id))

    def _create(self, id):
        deployment = self.deployment(id)
        self.require_write()
        data = _with_peering_pk(self, deployment, self.body())
        name = str(data.get("name") or "").strip()
        # A NUL never reaches a query (PostgreSQL refuses it: a 500); the form refuses it below.
        existing = None if "\x00" in name else deployment.resources.filter(name=name).first()
        if existing is not None:
            raise problems.conflict(
                "duplicate",
                f"A resource called {existing.name} already exists.",
                location=_url("api-resource", existing.pk),
            )
        form = ResourceForm(data, deployment=deployment)
        if form.is_valid():
            try:
                resource = services.add_resource(deployment, **form.cleaned_data)
            except services.Refused as refused:
                refused.add_to(form)
        if not form.is_valid():
            raise _form_refusal(form)
        data = self.get_serializer(resource).data
        return Response(data, status=201, headers={"Location": _url("api-resource", resource.pk)})


def _with_peering_pk(view, deployment, data):
    """The body with its `peering` (our ID or the pcx-… ID) as our ID, for the forms."""
    ref = data.get("peering")
    if (
        isinstance(ref, str | int)
        and not isinstance(ref, bool)
        and str(ref)
        and "\x00" not in str(ref)
    ):
        rows = view.peerings().filter(deployment=deployment)
        found = rows.filter(peering_id=str(ref).lower()).order_by("-id").first()
        if found is not None:
            return {**data, "peering": str(found.pk)}
    return data


@extend_schema(tags=["resources"], parameters=[INT_ID])
class ResourceDetail(_View):
    serializer_class = serializers.ResourceSerializer

    @extend_schema(summary="A resource")
    def get(self, request, id):
        return Response(self.get_serializer(self.resource(id)).data)

    @extend_schema(
        summary="Move a resource to another running VPC peering",
        request=serializers.ResourceMoveSerializer,
    )
    def patch(self, request, id):
        resource = self.resource(id)
        self.require_write()
        data = _with_peering_pk(self, resource.deployment, self.body())
        others = sorted(set(data) - {"peering"})
        if others or "peering" not in data:
            raise problems.refused(
                {name: ["Only peering can be changed: it moves the resource."] for name in others}
                or {"peering": ["This field is required."]}
            )
        if str(data["peering"]) != str(resource.peering_id):
            form = MoveResourceForm(data, resource=resource)
            if form.is_valid():
                try:
                    services.move_resource(resource, to=form.cleaned_data["peering"])
                except services.Refused as refused:
                    refused.add_to(form)
            if not form.is_valid():
                raise _form_refusal(form)
        return Response(self.get_serializer(resource).data)

    @extend_schema(summary="Delete a resource", responses={204: None})
    def delete(self, request, id):
        resource = self.resource(id)
        self.require_write()
        services.delete_resource(resource)
        return Response(status=204)


@extend_schema(
    tags=["audit"],
    parameters=[
        OpenApiParameter("deployment", OpenApiTypes.INT, description="A deployment's ID."),
        OpenApiParameter(
            "actor", OpenApiTypes.STR, description="Who acted, as the log names them."
        ),
        OpenApiParameter("action", OpenApiTypes.STR, description="Such as peering.created."),
        OpenApiParameter("since", OpenApiTypes.DATE, description="From this UTC day on."),
        OpenApiParameter("until", OpenApiTypes.DATE, description="Up to this UTC day."),
    ],
)
class AuditEventList(mixins.ListModelMixin, _View):
    serializer_class = serializers.AuditEventSerializer
    pagination_class = Cursor

    query_parameters = ("deployment", "actor", "action", "since", "until")
    # Filters that take a value of a type: given empty, they are refused, not ignored.
    TYPED_FILTERS = ("deployment", "since", "until")

    def get_queryset(self):
        empty = [name for name in self.TYPED_FILTERS if self.request.query_params.get(name) == ""]
        if empty:
            raise problems.refused(
                {name: ["Give a value, or leave the filter out."] for name in empty}
            )
        form = AuditFilterForm(self.request.query_params or None, deployments=self.deployments())
        if form.is_bound and not form.is_valid():
            raise _form_refusal(form)
        events = AuditEvent.objects.filter(organization_id=self.request.auth.organization_id)
        return form.filter(events)[0]

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        for event in page:
            event.actor_label, event.shown_ip, event.shown_request_id = as_customers_see(
                event.actor_name, event.source, event.ip, event.request_id, event.by_support
            )
        return page

    @extend_schema(summary="The organization's audit log, newest first, with its filters")
    def get(self, request):
        return self.list(request)
