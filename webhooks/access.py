"""Who may see and manage webhooks. Every member of an organization may read its list of
endpoints (where notifications go is no secret); only owners open an endpoint, with its
delivery attempts, or change anything (members and viewers: 403). Outsiders get 404, as
for a row that does not exist."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext

from core import access
from core.models import Membership
from webhooks.models import WebhookEndpoint


def _require_owner(user, organization):
    membership = access.membership_for(user, organization.pk)
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied(gettext("Only owners of the organization manage its webhooks."))


def organization_for_owner(request, organization_pk):
    organization = get_object_or_404(access.organizations_of(request.user), pk=organization_pk)
    _require_owner(request.user, organization)
    return organization


def endpoint_for_owner(request, endpoint_pk):
    endpoints = WebhookEndpoint.objects.filter(
        organization__in=access.organizations_of(request.user)
    ).select_related("organization")
    endpoint = get_object_or_404(endpoints, pk=endpoint_pk)
    _require_owner(request.user, endpoint.organization)
    return endpoint
