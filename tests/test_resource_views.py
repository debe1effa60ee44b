"""The web side of resources and of deleting a VPC peering: the resource dialog, adding and
deleting resources, the delete dialog of a peering with its refusals, and deleting against
the AWS simulator. Resources bind only to running peerings (the database enforces it too),
so rows that need another status get it before a resource is bound or after it is gone."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from peerings import services
from peerings.models import Resource
from tests.support.aws import routes_to, rules_for, vendor_ec2
from tests.support.factories import (
    make_deployment,
    make_peering,
    make_resource,
    provisioned,
)
from tests.support.web import HTMX, detail_url, errors_of

pytestmark = pytest.mark.django_db


def resource_new_url(deployment):
    return reverse("resource-new", args=[deployment.pk])


def resource_delete_url(resource):
    return reverse("resource-delete", args=[resource.deployment_id, resource.pk])


def peering_delete_url(peering):
    return reverse("peering-delete", args=[peering.deployment_id, peering.pk])


def resource_data(peering, **overrides):
    data = {
        "name": "orders-db",
        "kind": "mysql",
        "host": "172.16.1.10",
        "port": "3306",
        "peering": str(peering.pk),
    }
    data.update(overrides)
    return data


def section(page, pattern):
    match = re.search(pattern, page, re.S)
    assert match, f"no match for {pattern}"
    return match.group(1)


def peering_rows(page):
    # One tbody per peering, between the table's head and its end.
    return section(page, r'<table class="table" id="peering-table">.*?</thead>(.*?)</table>')


def deleted_history(page):
    match = re.search(r'<details class="history">(.*?)</details>', page, re.S)
    return match.group(1) if match else ""


# --- the resource dialog ---


def test_the_dialog_offers_only_the_deployments_running_peerings(
    client, owner, organization, deployment
):
    running = make_peering(deployment, "running", n=1)
    pending = make_peering(deployment, "pending", n=2)
    failed = make_peering(deployment, "failed", n=3)
    other = make_deployment(organization, name="billing")
    elsewhere = make_peering(other, "running", n=4)
    client.force_login(owner)
    response = client.get(resource_new_url(deployment))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="resource-form"' in page
    # The only running peering is chosen already.
    assert (
        f'<option value="{running.pk}" selected>{running.peering_id} (172.16.1.0/24)</option>'
        in page
    )
    for absent in (pending, failed, elsewhere):
        assert absent.peering_id not in page
        assert f'<option value="{absent.pk}"' not in page


def test_without_a_running_peering_the_dialog_sends_to_create_one_first(client, owner, deployment):
    make_peering(deployment, "pending", n=2)
    make_peering(deployment, "failed", n=3)
    client.force_login(owner)
    page = client.get(resource_new_url(deployment)).content.decode()
    notice = section(page, r'<p class="notice" id="needs-peering">(.*?)</p>')
    assert "Create a VPC peering first" in notice
    assert f'href="{reverse("peering-new", args=[deployment.pk])}"' in notice
    assert 'id="resource-form"' not in page
    assert 'name="host"' not in page


def test_with_a_running_peering_there_is_no_notice(client, owner, deployment):
    make_peering(deployment, "running")
    client.force_login(owner)
    page = client.get(resource_new_url(deployment)).content.decode()
    assert 'id="needs-peering"' not in page
    assert 'id="resource-form"' in page


def test_it_serves_the_resource_dialog_alone_to_htmx(client, owner, deployment):
    make_peering(deployment, "running")
    client.force_login(owner)
    fragment = client.get(resource_new_url(deployment), **HTMX).content.decode()
    assert 'id="resource-dialog"' in fragment
    assert "<html" not in fragment
    page = client.get(resource_new_url(deployment)).content.decode()
    assert "<html" in page
    assert 'id="resource-dialog"' in page
    # Without JS the form still posts to the same view.
    assert f'method="post" action="{resource_new_url(deployment)}"' in page


def test_a_member_may_add_a_resource(client, member, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(member)
    assert client.post(resource_new_url(deployment), resource_data(peering)).status_code == 302
    assert Resource.objects.filter(name="orders-db").exists()


# --- adding a resource ---


def test_it_adds_a_resource_and_audits_it(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering))
    assert response.status_code == 302
    assert response["Location"] == detail_url(deployment)
    resource = Resource.objects.get()
    assert (
        resource.deployment,
        resource.peering,
        resource.name,
        resource.kind,
        resource.host,
        resource.port,
    ) == (deployment, peering, "orders-db", "mysql", "172.16.1.10", 3306)
    event = AuditEvent.objects.get(action="resource.created")
    assert event.actor == owner
    assert event.source == "web"
    assert event.target_id == str(resource.pk)
    assert event.organization == deployment.organization
    page = client.get(detail_url(deployment)).content.decode()
    assert f'id="resource-{resource.pk}"' in page


def test_with_htmx_adding_closes_the_dialog_and_redraws_the_tables(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering), **HTMX)
    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"]
    assert response["HX-Retarget"] == "#tables"
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="tables"' in body
    resource = Resource.objects.get()
    assert f'<tr id="resource-{resource.pk}">' in body
    assert "<td>orders-db</td>" in body


def test_a_host_name_is_accepted(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering, host="db.internal"))
    assert response.status_code == 302
    assert Resource.objects.get().host == "db.internal"


# --- refusals ---


def assert_refused(response, field):
    """Refused with 200 (htmx swaps it), the message next to `field`, nothing saved."""
    assert response.status_code == 200
    page = response.content.decode()
    assert errors_of(page, field), f"no error shown next to {field}"
    assert not Resource.objects.filter(name="orders-db").exists()
    assert not AuditEvent.objects.filter(action="resource.created").exists()
    return errors_of(page, field)


def test_an_ip_outside_the_peerings_cidr_is_refused_naming_the_cidr(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering, host="172.16.9.10"))
    errors = assert_refused(response, "host")
    assert "172.16.1.0/24" in errors
    assert "172.16.9.10" in errors


@pytest.mark.parametrize("port", ["0", "65536"])
def test_a_port_out_of_range_is_refused(client, owner, deployment, port):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering, port=port))
    assert_refused(response, "port")


def test_a_peering_of_another_deployment_is_refused(client, owner, organization, deployment):
    make_peering(deployment, "running", n=1)
    other = make_deployment(organization, name="billing")
    foreign = make_peering(other, "running", n=2)
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(foreign, host="172.16.2.10"))
    assert_refused(response, "peering")


def test_a_peering_of_another_organization_is_refused(client, owner, outsider, deployment):
    make_peering(deployment, "running", n=1)
    other = make_deployment(outsider.memberships.get().organization, name="theirs")
    foreign = make_peering(other, "running", n=2)
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(foreign, host="172.16.2.10"))
    assert_refused(response, "peering")


@pytest.mark.parametrize("status", ["pending", "provisioning", "failed", "deleting"])
def test_a_peering_that_is_not_running_is_refused(client, owner, deployment, status):
    make_peering(deployment, "running", n=1)
    idle = make_peering(deployment, status, n=2)
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(idle, host="172.16.2.10"))
    assert_refused(response, "peering")


def test_a_duplicate_name_is_refused(client, owner, deployment):
    peering = make_peering(deployment, "running")
    make_resource(peering, "orders-db")
    client.force_login(owner)
    response = client.post(resource_new_url(deployment), resource_data(peering, host="172.16.1.20"))
    assert response.status_code == 200
    assert "orders-db" in errors_of(response.content.decode(), "name")
    assert Resource.objects.get().host == "172.16.1.10"
    assert not AuditEvent.objects.filter(action="resource.created").exists()


def test_a_garbage_host_is_refused_and_shown_escaped(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    payload = "<script>alert(1)</script>"
    response = client.post(resource_new_url(deployment), resource_data(peering, host=payload))
    assert_refused(response, "host")
    page = response.content.decode()
    assert payload not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- deleting a resource ---


def test_the_resource_delete_dialog_names_the_resource(client, owner, deployment):
    resource = make_resource(make_peering(deployment, "running"), "orders-db")
    client.force_login(owner)
    response = client.get(resource_delete_url(resource))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>orders-db</strong>" in page
    assert 'id="confirm-resource-delete"' in page
    assert Resource.objects.filter(pk=resource.pk).exists()  # GET deletes nothing


def test_it_deletes_a_resource_and_audits_it(client, owner, deployment):
    resource = make_resource(make_peering(deployment, "running"), "orders-db")
    client.force_login(owner)
    response = client.post(resource_delete_url(resource))
    assert response.status_code == 302
    assert response["Location"] == detail_url(deployment)
    assert not Resource.objects.exists()
    event = AuditEvent.objects.get(action="resource.deleted")
    assert event.actor == owner
    assert event.source == "web"
    assert event.target_id == str(resource.pk)
    assert event.before["name"] == "orders-db"


def test_with_htmx_deleting_a_resource_redraws_the_tables(client, owner, deployment):
    resource = make_resource(make_peering(deployment, "running"), "orders-db")
    client.force_login(owner)
    response = client.post(resource_delete_url(resource), **HTMX)
    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"]
    assert response["HX-Retarget"] == "#tables"
    body = response.content.decode()
    assert 'id="tables"' in body
    assert f'id="resource-{resource.pk}"' not in body
    assert not Resource.objects.exists()


def test_a_resource_of_another_deployment_is_not_found(client, owner, organization, deployment):
    other = make_deployment(organization, name="billing")
    foreign = make_resource(make_peering(other, "running"), "billing-db")
    url = reverse("resource-delete", args=[deployment.pk, foreign.pk])
    client.force_login(owner)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert Resource.objects.filter(pk=foreign.pk).exists()
    assert not AuditEvent.objects.filter(action="resource.deleted").exists()


def test_a_resource_deleted_twice_is_audited_once(deployment):
    peering = make_peering(deployment, "running", n=0xA, cidr="172.16.0.0/24")
    resource = make_resource(peering, "db", host="172.16.0.9")
    second_click = Resource.objects.get(pk=resource.pk)
    services.delete_resource(resource)
    services.delete_resource(second_click)
    assert AuditEvent.objects.filter(action="resource.deleted").count() == 1


# --- the peering delete dialog ---


@pytest.mark.parametrize("status", ["running", "failed", "peer_deleted"])
def test_the_delete_dialog_names_the_peering_and_asks_to_confirm(client, owner, deployment, status):
    peering = make_peering(deployment, status, cidr="172.16.44.0/24")
    client.force_login(owner)
    response = client.get(peering_delete_url(peering))
    assert response.status_code == 200
    page = response.content.decode()
    for value in (peering.peering_id, peering.customer_vpc_id, "172.16.44.0/24"):
        assert f"<dd>{value}</dd>" in page
    assert 'id="confirm-delete"' in page
    assert 'id="delete-refusal"' not in page
    peering.refresh_from_db()
    assert peering.status == status  # GET changes nothing


def test_it_serves_the_delete_dialog_alone_to_htmx(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    fragment = client.get(peering_delete_url(peering), **HTMX).content.decode()
    assert 'id="delete-dialog"' in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize("status", ["pending", "provisioning", "deleting"])
def test_a_peering_in_progress_cannot_be_deleted(client, owner, deployment, status):
    peering = make_peering(deployment, status)
    client.force_login(owner)
    page = client.get(peering_delete_url(peering)).content.decode()
    assert status in section(page, r'<p class="error" id="delete-refusal">(.*?)</p>')
    assert 'id="confirm-delete"' not in page
    response = client.post(peering_delete_url(peering))
    assert response.status_code == 200
    assert 'id="delete-refusal"' in response.content.decode()
    peering.refresh_from_db()
    assert peering.status == status
    assert not AuditEvent.objects.filter(action="peering.delete_requested").exists()


def test_a_peering_with_resources_lists_them_and_refuses_to_delete(client, owner, deployment):
    peering = make_peering(deployment, "running")
    analytics = make_resource(peering, "analytics-db", host="172.16.1.11")
    orders = make_resource(peering, "orders-db", host="172.16.1.12", port=5432)
    client.force_login(owner)
    page = client.get(peering_delete_url(peering)).content.decode()
    refusal = section(page, r'<p class="error" id="delete-refusal">(.*?)</p>')
    assert "analytics-db" in refusal and "orders-db" in refusal
    assert 'id="confirm-delete"' not in page
    bound = section(page, r'<ul id="bound-resources">(.*?)</ul>')
    for resource in (analytics, orders):
        assert f'{detail_url(deployment)}#resource-{resource.pk}"' in bound
        assert f">{resource.name}</a>" in bound
    assert "172.16.1.12:5432" in bound

    response = client.post(peering_delete_url(peering))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="delete-refusal"' in page
    assert 'id="bound-resources"' in page
    assert 'id="confirm-delete"' not in page
    peering.refresh_from_db()
    assert peering.status == "running"
    assert Resource.objects.filter(peering=peering).count() == 2
    assert not AuditEvent.objects.filter(action="peering.delete_requested").exists()


def test_with_htmx_a_delete_closes_the_dialog_and_redraws_the_tables(client, owner, deployment):
    peering = make_peering(deployment, "running")
    client.force_login(owner)
    # The worker is queued on commit, which a test transaction never reaches: the row stays
    # `deleting`, as a web request leaves it.
    response = client.post(peering_delete_url(peering), **HTMX)
    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"]
    assert response["HX-Retarget"] == "#tables"
    body = response.content.decode()
    assert f'<tbody id="peering-{peering.pk}" class="peering" data-status="deleting"' in body
    peering.refresh_from_db()
    assert peering.status == "deleting"


# --- deleting a peering against the simulator ---


@pytest.fixture
def running_peering(aws_deployment):
    """A peering accepted, routed and authorised in the simulator, as the worker leaves it."""
    return provisioned(aws_deployment)


def test_deleting_takes_the_vendor_side_down_and_keeps_the_row_as_history(
    client, owner, aws_deployment, running_peering, django_capture_on_commit_callbacks
):
    pcx = running_peering.peering_id
    # The simulator really holds what deleting has to remove.
    assert list(routes_to(aws_deployment, running_peering).values()) == [["172.16.8.0/24"]] * 2
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(peering_delete_url(running_peering))
    assert response.status_code == 302
    assert response["Location"] == detail_url(aws_deployment)
    assert len(callbacks) == 1

    running_peering.refresh_from_db()
    assert running_peering.status == "deleted"
    assert not any(routes_to(aws_deployment, running_peering).values())
    assert rules_for(aws_deployment, "172.16.8.0/24") == []
    in_aws = vendor_ec2().describe_peering(pcx)
    assert in_aws is None or in_aws.status == "deleted"

    requested = AuditEvent.objects.get(action="peering.delete_requested")
    assert (requested.source, requested.actor) == ("web", owner)
    assert requested.target_id == str(running_peering.pk)
    deleted = AuditEvent.objects.get(action="peering.deleted")
    assert (deleted.source, deleted.actor) == ("task", owner)
    assert deleted.request_id == requested.request_id

    page = client.get(detail_url(aws_deployment)).content.decode()
    assert pcx not in peering_rows(page)
    history = deleted_history(page)
    assert "Deleted peerings (1)" in history
    assert pcx in history


# --- who and what may reach the views ---


@pytest.fixture
def world(deployment):
    """A running peering with a resource, and a running peering with none (deletable)."""
    used = make_peering(deployment, "running", n=1)
    resource = make_resource(used, "orders-db")
    free = make_peering(deployment, "running", n=2)
    return {"deployment": deployment, "used": used, "resource": resource, "free": free}


def _requests(world):
    """(method, url, data) for each of the new views: every POST would change something."""
    new = resource_new_url(world["deployment"])
    return [
        ("get", new, None),
        ("post", new, resource_data(world["used"], name="new-db", host="172.16.1.20")),
        ("get", resource_delete_url(world["resource"]), None),
        ("post", resource_delete_url(world["resource"]), None),
        ("get", peering_delete_url(world["free"]), None),
        ("post", peering_delete_url(world["free"]), None),
    ]


def assert_nothing_changed(world):
    assert list(Resource.objects.values_list("name", flat=True)) == ["orders-db"]
    world["free"].refresh_from_db()
    assert world["free"].status == "running"
    # Logging in is audited too; what matters is that nothing was done to either object.
    assert not AuditEvent.objects.exclude(action__startswith="user.").exists()


@pytest.mark.parametrize("index", range(6))
def test_an_outsider_gets_404(client, outsider, world, index):
    method, url, data = _requests(world)[index]
    client.force_login(outsider)
    assert getattr(client, method)(url, data).status_code == 404
    assert_nothing_changed(world)


@pytest.mark.parametrize("index", range(6))
def test_a_viewer_gets_403(client, viewer, world, index):
    method, url, data = _requests(world)[index]
    client.force_login(viewer)
    assert getattr(client, method)(url, data).status_code == 403
    assert_nothing_changed(world)


@pytest.mark.parametrize("index", range(6))
def test_anonymous_visitors_are_sent_to_log_in(client, world, index):
    method, url, data = _requests(world)[index]
    response = getattr(client, method)(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert_nothing_changed(world)


def test_wrong_methods_get_405(client, owner, world):
    client.force_login(owner)
    for url in (
        resource_new_url(world["deployment"]),
        resource_delete_url(world["resource"]),
        peering_delete_url(world["free"]),
    ):
        assert client.put(url).status_code == 405
        assert client.delete(url).status_code == 405
        assert client.patch(url).status_code == 405
    assert_nothing_changed(world)


def test_posts_without_a_csrf_token_are_refused(owner, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    for method, url, data in _requests(world):
        if method == "post":
            assert client.post(url, data).status_code == 403
            assert client.post(url, data, **HTMX).status_code == 403
    assert_nothing_changed(world)


def test_the_owner_passes_the_same_requests(client, owner, world):
    """The counterpart of the refusals above: the same requests do work for an owner."""
    client.force_login(owner)
    codes = [
        getattr(client, method)(url, data).status_code for method, url, data in _requests(world)
    ]
    assert codes == [200, 302, 200, 302, 200, 302]
    assert list(Resource.objects.values_list("name", flat=True)) == ["new-db"]
    world["free"].refresh_from_db()
    assert world["free"].status == "deleting"


# --- caches ---


def test_it_tells_caches_the_dialogs_depend_on_the_htmx_header(client, owner, world):
    client.force_login(owner)
    for method, url, _data in _requests(world):
        if method == "get":
            assert "HX-Request" in client.get(url, **HTMX).get("Vary", "")
            assert "HX-Request" in client.get(url).get("Vary", "")
