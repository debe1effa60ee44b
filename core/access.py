"""Who belongs to which organization. Customer pages never reveal another organization's
rows: an outsider gets 404, exactly as for a row that does not exist."""

from core.models import Membership, Organization


def membership_for(user, organization_id):
    return Membership.objects.filter(user=user, organization_id=organization_id).first()


def organizations_of(user):
    return Organization.objects.filter(memberships__user=user)
