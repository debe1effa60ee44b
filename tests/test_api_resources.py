"""The deployment and resource endpoints' contract: the dialog's four values, resources
bound by our ID or the pcx- ID (201 + Location), the form's rules as 422 by field, a
duplicate name 409 with the existing one's Location, PATCH to move, DELETE."""

import pytest
from django.urls import reverse

from core.models import AuditEvent
from peerings.models import Resource
from tests.support.api import assert_problem
from tests.support.factories import make_deployment, make_peering, make_resource

pytestmark = pytest.mark.django_db


def resources_url(deployment):
    return reverse("api-deployment-resources", kwargs={"id": deployment.pk})


def resource_url(pk):
    return reverse("api-resource", kwargs={"id": pk})


def test_a_deployment_reads_with_its_plan_and_the_dialogs_four_values(api, deployment):
    body = api.get(reverse("api-deployment", kwargs={"id": deployment.pk})).json()
    assert body["plan"] == "dedicated"
    assert body["peering_allowed"] is True
    assert (body["region"], body["vpc_id"], body["cidr"], body["vendor_account_id"]) == (
        deployment.region,
        deployment.vpc_id,
        deployment.cidr,
        deployment.vendor_account_id,
    )


def test_the_deployment_list_holds_the_organizations_deployments_only(
    api, deployment, organization
):
    shared = make_deployment(organization, name="chat", plan="shared")
    from core.models import Organization

    make_deployment(Organization.objects.create(name="Them"), name="theirs")
    results = api.get(reverse("api-deployments")).json()["results"]
    assert {d["id"]: d["peering_allowed"] for d in results} == {
        deployment.pk: True,
        shared.pk: False,
    }


def test_a_resource_binds_to_a_running_peering_by_its_pcx_id(api, deployment):
    peering = make_peering(deployment, "running")
    response = api.post(
        resources_url(deployment),
        {
            "name": "orders-db",
            "kind": "mysql",
            "host": "172.16.1.10",
            "port": 3306,
            "peering": peering.peering_id,
        },
    )
    assert response.status_code == 201, response.content
    resource = Resource.objects.get()
    assert response["Location"] == resource_url(resource.pk)
    assert response.json() == {
        "id": resource.pk,
        "name": "orders-db",
        "kind": "mysql",
        "host": "172.16.1.10",
        "port": 3306,
        "peering": peering.pk,
        "deployment": deployment.pk,
        "created_at": response.json()["created_at"],
    }
    assert AuditEvent.objects.get(action="resource.created").source == "api"


def test_a_host_outside_the_peerings_cidr_is_422_on_host(api, deployment):
    peering = make_peering(deployment, "running")
    body = assert_problem(
        api.post(
            resources_url(deployment),
            {
                "name": "db",
                "kind": "mysql",
                "host": "10.9.9.9",
                "port": 3306,
                "peering": peering.pk,
            },
        ),
        422,
    )
    assert "outside 172.16.1.0/24" in body["errors"]["host"][0]
    assert not Resource.objects.exists()


def test_a_nul_in_a_name_or_peering_is_422_not_a_server_error(api, deployment):
    """PostgreSQL refuses NUL in text: nothing the caller typed may reach a query with one
    (schemathesis found the 500 on PostgreSQL)."""
    peering = make_peering(deployment, "running")
    for name, ref in (("d\x00b", peering.pk), ("db", "pcx-\x00")):
        body = assert_problem(
            api.post(
                resources_url(deployment),
                {"name": name, "kind": "mysql", "host": "172.16.1.9", "port": 3306, "peering": ref},
            ),
            422,
        )
        assert body["errors"]
    assert not Resource.objects.exists()


def test_a_peering_not_running_is_refused_on_peering(api, deployment):
    peering = make_peering(deployment, "pending")
    body = assert_problem(
        api.post(
            resources_url(deployment),
            {"name": "db", "kind": "mysql", "host": "172.16.1.9", "port": 1, "peering": peering.pk},
        ),
        422,
    )
    assert list(body["errors"]) == ["peering"]


def test_a_duplicate_name_is_409_with_the_existing_resources_location(api, deployment):
    existing = make_resource(make_peering(deployment, "running"), "orders-db")
    response = api.post(
        resources_url(deployment),
        {"name": " orders-db ", "kind": "mysql", "host": "172.16.1.11", "port": 1, "peering": 1},
    )
    assert_problem(response, 409)
    assert response["Location"] == resource_url(existing.pk)


def test_patch_moves_a_resource_to_another_running_peering(api, deployment):
    old = make_peering(deployment, "running", n=1, cidr="172.16.0.0/16")
    new = make_peering(deployment, "running", n=2, cidr="172.16.0.0/16")
    resource = make_resource(old, host="172.16.1.10")
    response = api.patch(resource_url(resource.pk), {"peering": new.peering_id})
    assert response.status_code == 200, response.content
    assert response.json()["peering"] == new.pk
    resource.refresh_from_db()
    assert resource.peering == new
    assert AuditEvent.objects.get(action="resource.moved").source == "api"


def test_patch_of_anything_but_the_peering_is_refused(api, deployment):
    resource = make_resource(make_peering(deployment, "running"))
    body = assert_problem(api.patch(resource_url(resource.pk), {"host": "172.16.1.99"}), 422)
    assert list(body["errors"]) == ["host"]


def test_patch_to_a_peering_not_running_is_422(api, deployment):
    resource = make_resource(make_peering(deployment, "running", n=1))
    failed = make_peering(deployment, "failed", n=2)
    body = assert_problem(api.patch(resource_url(resource.pk), {"peering": failed.pk}), 422)
    assert list(body["errors"]) == ["peering"]


def test_delete_removes_the_resource(api, deployment):
    resource = make_resource(make_peering(deployment, "running"))
    assert api.delete(resource_url(resource.pk)).status_code == 204
    assert not Resource.objects.exists()
    assert_problem(api.get(resource_url(resource.pk)), 404)
    assert AuditEvent.objects.get(action="resource.deleted").source == "api"
