"""The customer's journey on the deployment page after confirming: the seed's notes, the
status as it moves, the steps left in the customer's AWS account once running, actions
offered only when they can work, what each change says, and Move."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditEvent
from demo import sandbox
from demo.aws import SandboxEc2
from peerings import services
from peerings.models import PeeringConnection, Resource
from peerings.services import checks
from tests.support.factories import make_deployment, make_peering

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_of(client, deployment, **extra):
    response = client.get(reverse("deployment-detail", args=[deployment.pk]), **extra)
    assert response.status_code == 200
    return response.content.decode()


def row_of(client, peering, was=None):
    url = reverse("peering-row", args=[peering.deployment_id, peering.pk])
    response = client.get(url, {"was": was} if was else {}, **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def add_peering(deployment, status, n, cidr="172.16.0.0/24", **fields):
    return make_peering(deployment, status, n=n, cidr=cidr, **fields)


def test_it_shows_the_seeds_notes_with_the_reserved_ranges_of_the_setting(
    client, owner, deployment, settings
):
    import ipaddress

    settings.RESERVED_CIDRS = [ipaddress.ip_network("100.64.0.0/10")]
    client.force_login(owner)
    notes = re.search(
        r'<section class="card notes".*?</section>', page_of(client, deployment), re.S
    )
    assert notes, "the notes block is on the page itself"
    text = notes.group(0)
    assert "same region" in text and deployment.region in text
    assert "100.64.0.0/10" in text and "100.0.0.0/8" not in text
    assert "before the resources" in text
    assert "running" in text


def test_a_plan_without_peering_names_the_plans_that_offer_it(client, owner, organization):
    shared = make_deployment(organization, name="chat", plan="shared")
    client.force_login(owner)
    page = page_of(client, shared)
    notice = re.search(r'id="plan-notice">(.*?)</p>', page, re.S).group(1)
    assert "Shared plan" in notice
    assert "Dedicated and Enterprise" in notice
    assert "+ VPC Peering Connection" not in page


@pytest.mark.parametrize("status", ["pending", "provisioning", "deleting"])
def test_a_busy_peering_offers_no_delete_and_says_why(client, owner, deployment, status):
    peering = add_peering(deployment, status, 1)
    client.force_login(owner)
    page = page_of(client, deployment)
    delete_url = reverse("peering-delete", args=[deployment.pk, peering.pk])
    assert delete_url not in page
    assert f'disabled aria-describedby="why-no-delete-{peering.pk}">Delete</button>' in page
    assert "once it is running or failed" in page


@pytest.mark.parametrize("status", ["running", "failed", "peer_deleted"])
def test_a_settled_peering_offers_delete(client, owner, deployment, status):
    peering = add_peering(deployment, status, 1)
    client.force_login(owner)
    assert reverse("peering-delete", args=[deployment.pk, peering.pk]) in page_of(
        client, deployment
    )


def test_status_is_a_pill_with_a_spinner_only_while_the_worker_is_busy(client, owner, deployment):
    add_peering(deployment, "provisioning", 1)
    add_peering(deployment, "running", 2, cidr="172.16.1.0/24")
    client.force_login(owner)
    page = page_of(client, deployment)
    busy = '<span class="pill pill-provisioning"><span class="spinner" aria-hidden="true"></span>'
    assert busy + "provisioning</span>" in page
    assert '<span class="pill pill-running">running</span>' in page
    assert "Adding routes and security-group rules" in page


def test_the_end_state_of_a_peering_deleted_in_aws_reads_in_words(client, owner, deployment):
    peering = add_peering(deployment, "running", 1)
    Resource.objects.create(
        deployment=deployment, peering=peering, name="db", kind="mysql", host="172.16.0.9", port=1
    )
    PeeringConnection.objects.filter(pk=peering.pk).update(status="peer_deleted")
    client.force_login(owner)
    page = page_of(client, deployment)
    assert '<span class="pill pill-peer_deleted">deleted in AWS</span>' in page
    reason = re.search(rf'id="reason-{peering.pk}">(.*?)</p>', page, re.S).group(1)
    assert "Deleted in your AWS account" in reason
    assert "move them to another running peering" in reason
    assert "peer_deleted" not in reason


def test_times_show_relative_with_the_utc_time_on_hover_and_focus(client, owner, deployment):
    add_peering(deployment, "running", 1)
    client.force_login(owner)
    time = re.search(r"<time [^>]*>[^<]*</time>", page_of(client, deployment)).group(0)
    assert re.search(r'datetime="\d{4}-\d\d-\d\dT', time)
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d UTC"', time)
    assert 'tabindex="0"' in time
    assert "ago" in time or "now" in time


def test_the_row_opens_the_customer_steps_when_it_is_first_seen_running(client, owner, deployment):
    peering = add_peering(deployment, "running", 1)
    client.force_login(owner)
    seen_reaching_running = row_of(client, peering, was="provisioning")
    assert re.search(
        rf'<details class="next-steps" id="steps-{peering.pk}" open>', seen_reaching_running
    )
    assert "Route Tables" in seen_reaching_running and "Security Groups" in seen_reaching_running
    assert "aws ec2 create-route" in seen_reaching_running
    assert f"{peering.peering_id} is running now" in seen_reaching_running
    assert (
        'id="flash"' in seen_reaching_running and 'hx-swap-oob="innerHTML"' in seen_reaching_running
    )

    already_running = row_of(client, peering, was="running")
    assert f'id="steps-{peering.pk}" open' not in already_running
    assert 'id="flash"' not in already_running


def test_a_polled_status_change_is_announced(client, owner, deployment):
    peering = add_peering(deployment, "failed", 1, status_reason_code="aws_rejected")
    client.force_login(owner)
    row = row_of(client, peering, was="pending")
    flash = re.search(r'<div id="flash"[^>]*role="status"[^>]*>(.*?)</div>', row, re.S)
    assert flash and f"{peering.peering_id} is failed now." in flash.group(1)


def test_the_customer_steps_give_console_paths_cli_commands_and_named_copy_buttons(
    client, owner, deployment
):
    peering = add_peering(deployment, "running", 1)
    client.force_login(owner)
    url = reverse("peering-steps", args=[deployment.pk, peering.pk])
    steps = client.get(url, **HTMX).content.decode()
    assert "VPC</strong> → <strong>Route Tables" in steps
    assert "Edit inbound rules" in steps
    assert "Peering Connection" in steps and peering.peering_id in steps
    labels = re.findall(r'data-copy="[^"]*" aria-label="([^"]+)">Copy</button>', steps)
    assert len(labels) == 5 and len(set(labels)) == 5, labels


def test_deleting_says_what_happens_with_and_without_javascript(client, owner, deployment):
    first = add_peering(deployment, "failed", 1)
    second = add_peering(deployment, "failed", 2, cidr="172.16.1.0/24")
    client.force_login(owner)
    url = reverse("peering-delete", args=[deployment.pk, first.pk])
    htmx = client.post(url, **HTMX).content.decode()
    assert re.search(rf'<div id="flash"[^>]*>.*Deleting {first.peering_id}', htmx, re.S)

    url = reverse("peering-delete", args=[deployment.pk, second.pk])
    response = client.post(url, follow=True)
    assert f"Deleting {second.peering_id}" in response.content.decode()


def test_the_resource_form_preselects_the_only_running_peering(client, owner, deployment):
    peering = add_peering(deployment, "running", 1)
    add_peering(deployment, "failed", 2, cidr="172.16.1.0/24")
    client.force_login(owner)
    url = reverse("resource-new", args=[deployment.pk])
    form = client.get(url, **HTMX).content.decode()
    assert f'<option value="{peering.pk}" selected>' in form

    add_peering(deployment, "running", 3, cidr="172.16.2.0/24")
    form = client.get(url, **HTMX).content.decode()
    assert not re.search(r'<option value="\d+" selected>', form)


def test_the_resources_empty_state_fits_the_peerings(client, owner, deployment):
    client.force_login(owner)
    assert "create the peering first" in page_of(client, deployment)
    add_peering(deployment, "running", 1)
    page = page_of(client, deployment)
    assert "create the peering first" not in page
    assert "through a running VPC peering" in page


def test_the_page_runs_the_same_queries_for_one_peering_or_many(client, owner, deployment):
    client.force_login(owner)

    def count():
        with CaptureQueriesContext(connection) as queries:
            page_of(client, deployment)
        return len(queries)

    add_peering(deployment, "running", 1)
    one = count()
    for n, status in enumerate(["peer_deleted", "failed", "pending", "running"] * 5, start=2):
        peering = add_peering(deployment, "running", n, cidr=f"172.17.{n}.0/24")
        Resource.objects.create(
            deployment=deployment,
            peering=peering,
            name=f"r{n}",
            kind="mysql",
            host=f"172.17.{n}.9",
            port=3306,
        )
        PeeringConnection.objects.filter(pk=peering.pk).update(status=status)
    assert count() == one


# --- Move ---


def test_a_resource_moves_to_another_running_peering_audited_and_the_old_one_can_go(deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    new = add_peering(
        deployment, "running", 2, cidr="172.16.0.0/16", customer_vpc_id="vpc-" + "b" * 17
    )
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    PeeringConnection.objects.filter(pk=old.pk).update(status="peer_deleted")
    old.refresh_from_db()
    with pytest.raises(services.DeleteRefused):
        services.request_delete(old)

    services.move_resource(resource, to=new)
    resource.refresh_from_db()
    assert resource.peering_id == new.pk
    event = AuditEvent.objects.get(action="resource.moved")
    assert (event.before["peering"], event.after["peering"]) == (old.peering_id, new.peering_id)
    services.request_delete(old)  # nothing is bound any more
    old.refresh_from_db()
    assert old.status in ("deleting", "deleted", "failed")


def test_a_move_checks_the_host_against_the_new_peerings_cidrs(deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    new = add_peering(deployment, "running", 2, cidr="172.18.0.0/24")
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    with pytest.raises(services.Refused) as refused:
        services.move_resource(resource, to=new)
    assert "outside 172.18.0.0/24" in refused.value.errors["peering"][0]
    resource.refresh_from_db()
    assert resource.peering_id == old.pk
    assert not AuditEvent.objects.filter(action="resource.moved").exists()


def test_a_move_only_goes_to_a_running_peering_and_the_database_agrees(deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    failed = add_peering(
        deployment, "failed", 2, cidr="172.16.0.0/24", customer_vpc_id="vpc-" + "c" * 17
    )
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    with pytest.raises(services.Refused) as refused:
        services.move_resource(resource, to=failed)
    assert "resources need a running VPC peering" in refused.value.errors["peering"][0]
    # Even past the service (the peering left running after the check): the trigger refuses.
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Resource.objects.filter(pk=resource.pk).update(peering=failed)


def test_move_is_offered_only_with_another_running_peering(client, owner, deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    client.force_login(owner)
    move_url = reverse("resource-move", args=[deployment.pk, resource.pk])
    assert move_url not in page_of(client, deployment)
    add_peering(deployment, "running", 2, cidr="172.16.0.0/16", customer_vpc_id="vpc-" + "d" * 17)
    assert move_url in page_of(client, deployment)


def test_the_move_dialog_moves_and_says_so(client, owner, deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    new = add_peering(
        deployment, "running", 2, cidr="172.16.0.0/16", customer_vpc_id="vpc-" + "e" * 17
    )
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    client.force_login(owner)
    url = reverse("resource-move", args=[deployment.pk, resource.pk])
    dialog = client.get(url, **HTMX).content.decode()
    assert f'<option value="{new.pk}"' in dialog and f'<option value="{old.pk}"' not in dialog
    response = client.post(url, {"peering": new.pk}, **HTMX).content.decode()
    assert f"db now reaches your VPC through {new.peering_id}" in response
    resource.refresh_from_db()
    assert resource.peering_id == new.pk


def test_a_refused_move_marks_the_field_for_screen_readers(client, owner, deployment):
    old = add_peering(deployment, "running", 1, cidr="172.16.0.0/24")
    new = add_peering(deployment, "running", 2, cidr="172.18.0.0/24")
    resource = services.add_resource(
        deployment, peering=old, name="db", kind="mysql", host="172.16.0.9", port=3306
    )
    client.force_login(owner)
    url = reverse("resource-move", args=[deployment.pk, resource.pk])
    dialog = client.post(url, {"peering": new.pk}, **HTMX).content.decode()
    errors = re.search(r'<ul class="errorlist" id="errors-peering">(.*?)</ul>', dialog, re.S)
    assert errors and "outside 172.18.0.0/24" in errors.group(1)
    select = re.search(r'<select name="peering"[^>]*>', dialog).group(0)
    assert 'aria-invalid="true"' in select and 'aria-describedby="errors-peering"' in select


# --- what the worker would fail on, refused in the dialog ---


def test_a_request_whose_cidr_a_deployment_route_already_sends_elsewhere_is_refused(
    aws_deployment,
):
    ec2 = SandboxEc2("us-east-1", "123456789012")
    vendor = ec2.ec2
    gateway = vendor.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    vendor.attach_internet_gateway(InternetGatewayId=gateway, VpcId=aws_deployment.vpc_id)
    for table in vendor.describe_route_tables()["RouteTables"]:
        if table["VpcId"] == aws_deployment.vpc_id:
            vendor.create_route(
                RouteTableId=table["RouteTableId"],
                DestinationCidrBlock="172.16.8.0/24",
                GatewayId=gateway,
            )
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    with pytest.raises(services.Refused) as refused:
        services.check_new_peering(
            aws_deployment,
            peering_id=request.peering_id,
            account_id=request.account_id,
            vpc_id=request.vpc_id,
        )
    message = str(refused.value.errors["vpc_id"][0])
    assert "172.16.8.0/24" in message and "already routes" in message
    assert "rtb-" not in message


def test_a_route_left_as_a_blackhole_or_already_ours_is_no_conflict():
    tables = {
        "rtb-1": [
            {
                "DestinationCidrBlock": "172.16.8.0/24",
                "State": "blackhole",
                "VpcPeeringConnectionId": "pcx-old",
            },
            {
                "DestinationCidrBlock": "172.16.9.0/24",
                "State": "active",
                "VpcPeeringConnectionId": "pcx-new",
            },
            {"DestinationCidrBlock": "172.16.10.0/24", "State": "active", "GatewayId": "igw-1"},
        ]
    }
    assert (
        checks.route_problems(
            tables, cidrs=["172.16.8.0/24", "172.16.9.0/24"], peering_id="pcx-new"
        )
        == []
    )
    assert len(checks.route_problems(tables, cidrs=["172.16.10.0/24"], peering_id="pcx-new")) == 1


def test_a_plain_get_of_a_row_leaves_no_message_behind(client, owner, deployment):
    peering = add_peering(deployment, "running", 1)
    client.force_login(owner)
    url = reverse("peering-row", args=[deployment.pk, peering.pk])
    assert client.get(url, {"was": "pending"}).status_code == 200  # a link, not the poll
    assert f"{peering.peering_id} is running now" not in page_of(client, deployment)
