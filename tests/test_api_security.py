"""Hostile keys, swept over every API route taken from the URL conf (a new route cannot
escape): another organization's IDs read as missing (404) for every method, a viewer key
is refused every write (403) and reads everything, and nothing changes meanwhile."""

import pytest
from django.urls import resolve, reverse

from api.models import ApiKey
from core.models import Organization
from peerings.models import PeeringConnection, Resource
from tests.support.api import ApiClient, make_key
from tests.support.factories import make_deployment, make_peering, make_resource
from tests.support.routes import api_routes

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "patch", "delete")


@pytest.fixture
def world(organization, owner):
    """Two organizations with one of everything each: {tag: {object kind: ID}}."""
    rows = {}
    for org, tag in ((organization, 1), (Organization.objects.create(name="Victim"), 2)):
        deployment = make_deployment(org, name=f"d{tag}")
        failed = make_peering(deployment, "failed", n=tag, retryable=True)
        running = make_peering(deployment, "running", n=tag + 10, cidr=f"172.17.{tag}.0/24")
        resource = make_resource(running, "db", host=f"172.17.{tag}.9")
        rows[tag] = {"deployment": deployment.pk, "peering": failed.pk, "resource": resource.pk}
        rows[tag]["pcx"] = failed.peering_id
    return rows


def object_of(route_name):
    """The kind of object a route's {id} names: api-<kind>[-...]."""
    return route_name.split("-")[1]


def scoped_api_routes():
    return [(name, converters) for name, converters in api_routes() if converters]


def state():
    return (
        list(PeeringConnection.objects.order_by("pk").values_list("pk", "status", "retryable")),
        list(Resource.objects.order_by("pk").values_list("pk", "peering_id", "name")),
        list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


def test_the_sweep_sees_every_route_of_the_issue():
    assert {name for name, _ in scoped_api_routes()} == {
        "api-deployment",
        "api-deployment-peerings",
        "api-deployment-resources",
        "api-peering",
        "api-peering-retry",
        "api-resource",
    }


def allowed_methods(url):
    return [m for m in METHODS if m.upper() in resolve(url).func.cls().allowed_methods]


def test_every_api_route_gives_404_for_another_organizations_ids(world, organization, owner):
    api = ApiClient(make_key(organization, owner)[1])
    before = state()
    for name, _converters in scoped_api_routes():
        ids = [world[2][object_of(name)]]
        if object_of(name) == "peering":
            ids.append(world[2]["pcx"])  # and by the AWS ID
        for ref in ids:
            url = reverse(name, kwargs={"id": ref})
            for method in METHODS:
                status = getattr(api, method)(url).status_code
                assert status in (404, 405), f"{method.upper()} {url} ({name}) gave {status}"
            assert allowed_methods(url), name
    assert before == state()


def test_a_viewer_key_is_refused_every_write_and_reads_everything(world, organization, owner):
    viewer = ApiClient(make_key(organization, owner, role="viewer")[1])
    before = state()
    writes = 0
    for name, _converters in scoped_api_routes():
        url = reverse(name, kwargs={"id": world[1][object_of(name)]})
        for method in allowed_methods(url):
            status = getattr(viewer, method)(url).status_code
            expected = 200 if method == "get" else 403
            assert status == expected, f"{method.upper()} {url} ({name}) gave {status}"
            writes += method != "get"
    assert writes == 6  # create peering, delete, retry; create, move, delete resource
    assert before == state()
    for name, converters in api_routes():
        if not converters and name not in ("api-schema", "api-docs"):
            assert viewer.get(reverse(name)).status_code == 200, name
