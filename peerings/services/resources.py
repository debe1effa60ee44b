"""Resources (data-integration targets on the customer's side) bound to a running peering.
The rules and their messages live here alone: the customer's form, the admin and
`add_resource` all ask `resource_problems`, and the database refuses what slips past."""

import ipaddress
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core import audit
from peerings.models import Deployment, PeeringConnection, Resource
from peerings.services.checks import Errors, Refused
from peerings.services.transitions import Status


def resource_problems(
    deployment: Deployment,
    *,
    peering: PeeringConnection | None = None,
    host: str | None = None,
    name: str | None = None,
) -> Errors:
    """Every rule a resource of `deployment` must meet, each message on the field to fix:
    a running peering of this deployment, a host given as an IP inside the peering's
    customer CIDR, a name not taken. Checks only what it is given (a form passes the
    fields that are valid so far)."""
    errors: Errors = {}
    if peering is not None:
        if peering.deployment_id != deployment.pk:
            errors["peering"] = [_("Choose a VPC peering of this deployment.")]
        elif peering.status != Status.RUNNING:
            errors["peering"] = [_not_running(peering)]
        elif host:
            errors.update(_host_problems(peering, host))
    if name and deployment.resources.filter(name=name).exists():
        errors["name"] = [_name_taken(name)]
    return errors


def _host_problems(peering: PeeringConnection, host: str) -> Errors:
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return {}  # a host name: resolved on the customer's side, accepted as is
    networks = [ipaddress.IPv4Network(c) for c in peering.customer_cidrs]
    if not any(address in n for n in networks):
        return {
            "host": [
                _(
                    "%(address)s is outside %(cidrs)s, the CIDR of your VPC behind "
                    "%(peering_id)s: traffic to it would not go through the peering."
                )
                % {
                    "address": address,
                    "cidrs": ", ".join(map(str, networks)),
                    "peering_id": peering.peering_id,
                }
            ]
        }
    return {}


def _not_running(peering: PeeringConnection, *, now: bool = False) -> str:
    if now:
        message = _("%(peering_id)s is %(status)s now; resources need a running VPC peering.")
    else:
        message = _("%(peering_id)s is %(status)s; resources need a running VPC peering.")
    return message % {"peering_id": peering.peering_id, "status": peering.status}


def _name_taken(name: str) -> str:
    return _("A resource called %(name)s already exists.") % {"name": name}


def peering_left_running(resource: Resource) -> str | None:
    """Once the database has refused to save `resource` that passed the checks: why, when
    its peering has left `running` meanwhile (the trigger refuses that); else None."""
    peering = PeeringConnection.objects.filter(pk=resource.peering_id).first()
    if peering is not None and peering.status != Status.RUNNING:
        return _not_running(peering, now=True)
    return None


def add_resource(
    deployment: Deployment,
    *,
    peering: PeeringConnection,
    name: str,
    kind: str,
    host: str,
    port: int,
) -> Resource:
    errors = resource_problems(deployment, peering=peering, host=host, name=name)
    if errors:
        raise Refused(errors)
    resource = Resource(
        deployment=deployment, peering=peering, name=name, kind=kind, host=host, port=port
    )
    try:
        with transaction.atomic():
            resource.save(force_insert=True)
            audit.record("resource.created", target=resource, after=_snapshot(resource))
    except IntegrityError:
        # The trigger (peering no longer running) or the unique name; say which.
        left_running = peering_left_running(resource)
        if left_running:
            raise Refused({"peering": [left_running]}) from None
        raise Refused({"name": [_name_taken(name)]}) from None
    return resource


def move_resource(resource: Resource, *, to: PeeringConnection) -> Resource:
    """Bind `resource` to another running peering of its deployment (say, the replacement
    of one deleted in the customer's account), so the old one can then be deleted. Its host
    must lie in the new peering's CIDRs; the database trigger refuses the move as well if
    the new peering left `running` meanwhile."""
    if to.pk == resource.peering_id:
        raise Refused(
            {
                "peering": [
                    _("%(name)s already uses %(peering_id)s.")
                    % {"name": resource.name, "peering_id": to.peering_id}
                ]
            }
        )
    errors = resource_problems(resource.deployment, peering=to, host=resource.host)
    if errors:
        # The peering is the only choice made: every message is about it.
        raise Refused({"peering": [m for messages in errors.values() for m in messages]})
    before = _snapshot(resource)
    try:
        with transaction.atomic():
            moved = Resource.objects.filter(pk=resource.pk, peering_id=resource.peering_id).update(
                peering=to
            )
            if not moved:
                raise Refused({None: [_("This resource changed meanwhile. Reload the page.")]})
            resource.peering = to
            audit.record(
                "resource.moved", target=resource, before=before, after=_snapshot(resource)
            )
    except IntegrityError:
        raise Refused({"peering": [_not_running(to, now=True)]}) from None
    return resource


def delete_resource(resource: Resource) -> None:
    with transaction.atomic():
        snapshot = _snapshot(resource)
        deleted, _ = Resource.objects.filter(pk=resource.pk).delete()
        if deleted:  # a second click finds nothing left to delete, and records nothing
            audit.record("resource.deleted", target=resource, before=snapshot)


def _snapshot(resource: Resource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "kind": resource.kind,
        "host": resource.host,
        "port": resource.port,
        "peering": resource.peering.peering_id,
    }
