"""Only an organization's owners see and manage its API keys (members and viewers: 403);
outsiders get 404, as for a row that does not exist."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from api.models import ApiKey
from core import access
from core.models import Membership


def _require_owner(user, organization):
    membership = access.membership_for(user, organization.pk)
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only owners of the organization manage its API keys.")


def organization_for_owner(request, organization_pk):
    organization = get_object_or_404(access.organizations_of(request.user), pk=organization_pk)
    _require_owner(request.user, organization)
    return organization


def key_for_owner(request, key_pk):
    keys = ApiKey.objects.filter(
        organization__in=access.organizations_of(request.user)
    ).select_related("organization")
    key = get_object_or_404(keys, pk=key_pk)
    _require_owner(request.user, key.organization)
    return key
