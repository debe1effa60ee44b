"""The peering endpoints' contract: field names, 202 + Location, the dialog's checks as
422 problems by field, 409 for duplicates, bound resources and work in progress, 404 once
deleted, import by the pcx- ID, and changes audited with source `api`."""

import pytest
from django.conf import settings
from django.urls import reverse

from core.models import AuditEvent
from peerings import ratebudget
from peerings.models import PeeringConnection
from tests.support.api import assert_problem
from tests.support.factories import make_deployment, make_peering, make_resource

pytestmark = pytest.mark.django_db

PEERING_FIELDS = {
    "id",
    "peering_id",
    "deployment",
    "customer_account_id",
    "customer_vpc_id",
    "customer_cidrs",
    "status",
    "status_reason",
    "status_reason_code",
    "status_reason_params",
    "retryable",
    "created_at",
    "status_changed_at",
}


def peerings_url(deployment):
    return reverse("api-deployment-peerings", kwargs={"id": deployment.pk})


def peering_url(ref):
    return reverse("api-peering", kwargs={"id": ref})


def request_for(request):
    return {
        "peering_id": request.peering_id,
        "account_id": request.account_id,
        "vpc_id": request.vpc_id,
    }


def test_a_peering_reads_back_with_the_models_names(api, deployment):
    peering = make_peering(deployment, "failed", status_reason_text="The VPC is gone.")
    body = api.get(peering_url(peering.pk)).json()
    assert set(body) >= PEERING_FIELDS
    assert body["peering_id"] == peering.peering_id
    assert body["deployment"] == deployment.pk
    assert body["customer_cidrs"] == ["172.16.1.0/24"]
    assert body["status"] == "failed"
    assert body["status_reason"] == "The VPC is gone."
    assert body["customer_steps"] is None


def test_a_failed_peering_reads_its_reason_code_beside_the_reason_in_english(api, deployment):
    """Programs read the API: the reason is English whatever the caller's Accept-Language,
    and the code and its parameters beside it are what a program should branch on."""
    peering = make_peering(
        deployment,
        "peer_deleted",
        status_reason_code="deleted_by_customer",
        status_reason_params={"state": "deleted"},
    )
    for language in ("en", "zh-hans"):
        body = api.get(peering_url(peering.pk), headers={"Accept-Language": language}).json()
        assert body["status_reason_code"] == "deleted_by_customer"
        assert body["status_reason_params"] == {"state": "deleted"}
        assert body["status_reason"].startswith("The peering connection is deleted in AWS")


def test_a_peering_is_found_by_its_pcx_id_as_well(api, deployment):
    peering = make_peering(deployment)
    assert api.get(peering_url(peering.peering_id)).json()["id"] == peering.pk
    assert api.get(peering_url(peering.peering_id.upper())).json()["id"] == peering.pk


def test_a_running_peering_shows_the_customers_remaining_aws_steps(api, deployment):
    peering = make_peering(deployment, "running")
    steps = api.get(peering_url(peering.pk)).json()["customer_steps"]
    assert steps["region"] == deployment.region
    assert steps["route"] == {
        "route_tables_of_vpc": peering.customer_vpc_id,
        "destination_cidr_block": deployment.cidr,
        "vpc_peering_connection_id": peering.peering_id,
    }
    assert steps["security_group_ingress"]["source_cidr"] == deployment.cidr


def test_an_api_create_asks_aws_below_the_dialog_and_above_provisioning(
    api, aws_deployment, monkeypatch
):
    from demo import sandbox

    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.9.0/24")
    levels = []
    take = ratebudget.take

    def noting(account_id, region, action, level, max_wait, **kwargs):
        levels.append((level, max_wait))
        return take(account_id, region, action, level, max_wait, **kwargs)

    monkeypatch.setattr(ratebudget, "take", noting)
    assert api.post(peerings_url(aws_deployment), request_for(request)).status_code == 202
    assert levels
    assert {level for level, _wait in levels} == {ratebudget.Priority.API}
    # A program waits like the page does: the dialog's short wait, not a worker's.
    assert {wait for _level, wait in levels} == {settings.AWS_CHECK_READ_TIMEOUT}
    assert (
        ratebudget.RESERVE[ratebudget.Priority.DIALOG]
        < ratebudget.RESERVE[ratebudget.Priority.API]
        < ratebudget.RESERVE[ratebudget.Priority.PROVISIONING]
    )


def test_a_confirmed_request_is_202_pending_with_its_location(api, aws_deployment, owner):
    from demo import sandbox

    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    response = api.post(peerings_url(aws_deployment), request_for(request))
    assert response.status_code == 202, response.content
    peering = PeeringConnection.objects.get(peering_id=request.peering_id)
    assert response["Location"] == peering_url(peering.pk)
    assert response.json()["status"] == "pending"
    assert response.json()["customer_cidrs"] == ["172.16.8.0/24"]
    event = AuditEvent.objects.get(action="peering.created")
    assert event.source == "api"
    assert event.actor_id == owner.pk
    assert "API key ci" in event.actor_name


def test_a_refused_request_is_422_with_the_dialogs_messages_by_field(api, aws_deployment):
    from demo import sandbox

    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    wrong = {**request_for(request), "account_id": "111122223333"}
    body = assert_problem(api.post(peerings_url(aws_deployment), wrong), 422)
    assert body["errors"]["account_id"] == [
        f"The request in AWS comes from account {request.account_id}, not 111122223333 "
        "that you entered."
    ]
    assert not PeeringConnection.objects.exists()


def test_bad_formats_are_422_by_field_before_aws_is_asked(api, deployment):
    body = assert_problem(
        api.post(peerings_url(deployment), {"peering_id": "nope", "vpc_id": "vpc-1"}), 422
    )
    assert set(body["errors"]) == {"peering_id", "account_id", "vpc_id"}


def test_a_body_that_is_not_an_object_is_refused(api, deployment):
    assert_problem(api.post(peerings_url(deployment), ["pcx-1"]), 422)


def test_aws_not_answering_is_503_with_retry_after_and_nothing_saved(
    api, deployment, aws_unreachable
):
    body = {
        "peering_id": "pcx-0123456789abcdef0",
        "account_id": "210987654321",
        "vpc_id": "vpc-0123456789abcdef0",
    }
    response = api.post(peerings_url(deployment), body)
    assert_problem(response, 503)
    assert response["Retry-After"] == "60"
    assert not PeeringConnection.objects.exists()


def test_a_plan_without_peering_refuses_with_422(api, organization):
    shared = make_deployment(organization, name="chat", plan="shared")
    body = assert_problem(
        api.post(
            peerings_url(shared),
            {"peering_id": "pcx-1", "account_id": "210987654321", "vpc_id": "vpc-1"},
        ),
        422,
    )
    assert "Shared plan" in body["errors"]["non_field_errors"][0]


def test_a_duplicate_peering_id_is_409_pointing_at_the_existing_peering(api, deployment):
    existing = make_peering(deployment, "running")
    response = api.post(
        peerings_url(deployment),
        {
            "peering_id": existing.peering_id.upper(),
            "account_id": existing.customer_account_id,
            "vpc_id": "vpc-0000000000000abcd",
        },
    )
    body = assert_problem(response, 409)
    assert response["Location"] == peering_url(existing.pk)
    assert "peering_id" in body["errors"]
    assert "peering_id_in_use" in body["codes"]["peering_id"]
    assert existing.peering_id in body["errors"]["peering_id"][0]


def test_a_duplicate_vpc_is_409_pointing_at_the_existing_peering(api, deployment):
    existing = make_peering(deployment, "failed")
    response = api.post(
        peerings_url(deployment),
        {
            "peering_id": "pcx-0000000000000abcd",
            "account_id": existing.customer_account_id,
            "vpc_id": existing.customer_vpc_id,
        },
    )
    body = assert_problem(response, 409)
    assert response["Location"] == peering_url(existing.pk)
    assert list(body["errors"]) == ["vpc_id"]
    assert body["codes"] == {"vpc_id": ["vpc_already_peered"]}


def test_another_organizations_peering_id_reads_as_no_such_request(api, deployment):
    """An outsider learns nothing: another organization's live peering ID is not a 409
    (nor a Location) but reads exactly as an ID that exists nowhere, the refusal AWS gives
    for a request not addressed to this deployment. 409 with Location is only for the
    key's own organization (above)."""
    from core.models import Organization

    theirs = make_peering(make_deployment(Organization.objects.create(name="Them")), "running")

    def refusal(peering_id):
        response = api.post(
            peerings_url(deployment),
            {
                "peering_id": peering_id,
                "account_id": "210987654321",
                "vpc_id": "vpc-0000000000000abcd",
            },
        )
        body = assert_problem(response, 422)
        assert not response.has_header("Location")
        assert "location" not in body
        return body

    body = refusal(theirs.peering_id)
    assert body["codes"] == {"peering_id": ["request_not_found"]}
    assert theirs.customer_vpc_id not in str(body)
    assert theirs.customer_account_id not in str(body)
    unknown = "pcx-0000000000000dead"
    nowhere = refusal(unknown)
    assert body["errors"] == {
        field: [m.replace(unknown, theirs.peering_id) for m in messages]
        for field, messages in nowhere["errors"].items()
    }
    assert body["codes"] == nowhere["codes"]


def test_delete_is_202_deleting_then_404_once_deleted(api, deployment):
    peering = make_peering(deployment, "failed")
    response = api.delete(peering_url(peering.pk))
    assert response.status_code == 202
    assert response["Location"] == peering_url(peering.pk)
    # The worker is queued on commit, which this test's transaction never makes.
    assert response.json()["status"] == "deleting"
    peering.move("deleted", allowed_from=PeeringConnection.Status.values)
    assert_problem(api.get(peering_url(peering.pk)), 404)
    assert_problem(api.get(peering_url(peering.peering_id)), 404)
    assert peering.pk not in [p["id"] for p in api.get(peerings_url(deployment)).json()["results"]]
    assert AuditEvent.objects.filter(action="peering.delete_requested", source="api").exists()


def test_delete_with_resources_bound_is_409_naming_them(api, deployment):
    peering = make_peering(deployment, "running")
    resource = make_resource(peering, "orders-db")
    body = assert_problem(api.delete(peering_url(peering.pk)), 409)
    assert body["resources"] == [
        {
            "id": resource.pk,
            "name": "orders-db",
            "url": reverse("api-resource", kwargs={"id": resource.pk}),
        }
    ]
    assert "orders-db" in body["detail"]
    peering.refresh_from_db()
    assert peering.status == "running"


@pytest.mark.parametrize("status", ["pending", "provisioning", "deleting"])
def test_delete_during_work_in_progress_is_409_with_retry_after(api, deployment, status):
    peering = make_peering(deployment, status)
    response = api.delete(peering_url(peering.pk))
    body = assert_problem(response, 409)
    assert int(response["Retry-After"]) > 0
    assert body["peering_status"] == status


def test_retry_of_a_retryable_failure_is_202_pending(api, deployment, monkeypatch):
    from peerings import queue

    monkeypatch.setattr(queue, "enqueue_provision", lambda peering, **kw: None)
    peering = make_peering(deployment, "failed", retryable=True)
    response = api.post(reverse("api-peering-retry", kwargs={"id": peering.peering_id}))
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert AuditEvent.objects.get(action="peering.retried").source == "api"


def test_retry_that_cannot_help_is_409_without_retry_after(api, deployment):
    peering = make_peering(deployment, "failed", retryable=False)
    response = api.post(reverse("api-peering-retry", kwargs={"id": peering.pk}))
    assert_problem(response, 409)
    assert not response.has_header("Retry-After")


def test_retry_while_at_work_is_409_with_retry_after(api, deployment):
    peering = make_peering(deployment, "pending")
    response = api.post(reverse("api-peering-retry", kwargs={"id": peering.pk}))
    assert_problem(response, 409)
    assert response.has_header("Retry-After")


def test_the_list_leaves_deleted_peerings_out(api, deployment):
    live = make_peering(deployment, "running", n=1)
    make_peering(deployment, "deleted", n=2)
    results = api.get(peerings_url(deployment)).json()["results"]
    assert [p["id"] for p in results] == [live.pk]
