"""Resources (data-integration targets on the customer's side) bound to a running peering;
the database refuses what slips past these checks."""

import ipaddress
from typing import Any

from django.db import IntegrityError, transaction

from peerings import audit
from peerings.models import Deployment, PeeringConnection, Resource
from peerings.services.checks import Errors, Refused
from peerings.services.transitions import Status


def resource_problems(peering: PeeringConnection, *, host: str) -> Errors:
    """A host given as an IP must lie in the peering's customer CIDR."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return {}  # a host name: resolved on the customer's side, accepted as is
    networks = [ipaddress.IPv4Network(c) for c in peering.customer_cidrs]
    if not any(address in n for n in networks):
        return {"host": [
            f"{address} is outside {', '.join(map(str, networks))}, the CIDR of your VPC "
            f"behind {peering.peering_id}: traffic to it would not go through the peering."
        ]}
    return {}


def add_resource(deployment: Deployment, *, peering: PeeringConnection, name: str, kind: str,
                 host: str, port: int) -> Resource:
    if peering.deployment_id != deployment.pk:
        raise Refused({"peering": ["Choose a VPC peering of this deployment."]})
    errors = resource_problems(peering, host=host)
    if errors:
        raise Refused(errors)
    try:
        with transaction.atomic():
            resource = Resource.objects.create(deployment=deployment, peering=peering,
                                               name=name, kind=kind, host=host, port=port)
            audit.record("resource.created", target=resource, after=_snapshot(resource))
    except IntegrityError:
        # The trigger (peering no longer running) or the unique name; say which.
        peering.refresh_from_db()
        if peering.status != Status.RUNNING:
            raise Refused({"peering": [
                f"{peering.peering_id} is {peering.status} now; resources need a running "
                "VPC peering."
            ]}) from None
        raise Refused({"name": [f"A resource called {name} already exists."]}) from None
    return resource


def delete_resource(resource: Resource) -> None:
    with transaction.atomic():
        snapshot = _snapshot(resource)
        deleted, _ = Resource.objects.filter(pk=resource.pk).delete()
        if deleted:  # a second click finds nothing left to delete, and records nothing
            audit.record("resource.deleted", target=resource, before=snapshot)


def _snapshot(resource: Resource) -> dict[str, Any]:
    return {"name": resource.name, "kind": resource.kind, "host": resource.host,
            "port": resource.port, "peering": resource.peering.peering_id}
