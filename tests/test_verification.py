"""The checks a new peering passes before anything is saved: each rule refuses its bad case,
with the message on the field to fix, and lets the good case through."""

import contextlib
import logging
import socket
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from botocore.stub import Stubber
from django.urls import reverse

from demo import sandbox
from demo.aws import SandboxEc2
from peerings import aws, services
from peerings.models import PeeringConnection
from peerings.services.checks import not_for_this_deployment
from tests.support.aws import (
    CUSTOMER,
    REGION,
    STUB_PCX,
    STUB_VPC,
    VENDOR,
    described,
    stub_ec2,
    vendor_ec2,
)
from tests.support.factories import (
    another_organizations_deployment,
    confirmed,
    make_deployment,
    make_peering,
)

pytestmark = pytest.mark.django_db


def check(deployment, request, **typed):
    values = {
        "peering_id": request.peering_id,
        "account_id": request.account_id,
        "vpc_id": request.vpc_id,
    }
    values.update(typed)
    return services.check_new_peering(
        deployment,
        peering_id=values["peering_id"],
        account_id=values["account_id"],
        vpc_id=values["vpc_id"],
    )


def refusal(deployment, request, **typed):
    """The refusal's messages by field, as the customer reads them (in English here)."""
    return {
        field: [str(m) for m in messages]
        for field, messages in codes(deployment, request, **typed).items()
    }


def codes(deployment, request, **typed):
    """The refusal as it is kept: each field's reasons, with their codes."""
    with pytest.raises(services.Refused) as caught:
        check(deployment, request, **typed)
    return caught.value.errors


def test_it_accepts_a_good_request_and_learns_the_customer_cidr(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    seen = check(aws_deployment, request)
    assert seen.in_aws.status == "pending-acceptance"
    assert seen.cidrs == ["172.16.8.0/24"]


def test_it_refuses_a_request_that_does_not_exist(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    errors = refusal(aws_deployment, request, peering_id="pcx-0123456789abcdef0")
    assert (
        "No VPC peering connection pcx-0123456789abcdef0 exists in us-east-1"
        in (errors["peering_id"][0])
    )


def test_it_refuses_the_wrong_account(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    assert [
        r.code for r in codes(aws_deployment, request, account_id="999988887777")["account_id"]
    ] == ["wrong_account"]
    errors = refusal(aws_deployment, request, account_id="999988887777")
    assert errors == {
        "account_id": [
            f"The request in AWS comes from account {CUSTOMER}, not 999988887777 that you entered."
        ]
    }


def test_it_refuses_the_wrong_vpc(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment)
    errors = refusal(aws_deployment, request, vpc_id="vpc-0123456789abcdef0")
    assert list(errors) == ["vpc_id"]
    assert f"comes from VPC {request.vpc_id}, not vpc-0123456789abcdef0" in errors["vpc_id"][0]


def not_found(deployment, peering_id):
    """The not-found refusal as the customer reads it (in English here)."""
    return as_read(not_for_this_deployment(deployment, peering_id))


def as_read(errors):
    return {field: [str(m) for m in messages] for field, messages in errors.items()}


def test_a_request_for_another_vpc_of_ours_reads_as_no_such_request(aws_deployment, organization):
    ec2 = SandboxEc2(REGION, VENDOR)
    other_vpc, _, other_group = ec2.create_network("10.40.0.0/16", "other")
    other = make_deployment(
        organization,
        name="other",
        vpc_id=other_vpc,
        security_group_id=other_group,
        cidr="10.40.0.0/16",
    )
    request = sandbox.create_customer_request(other)
    errors = refusal(aws_deployment, request)
    assert errors == not_found(aws_deployment, request.peering_id)
    assert other_vpc not in str(errors)


def test_another_organizations_request_tells_an_outsider_nothing(aws_deployment, outsider):
    """Checked before anything else: a pcx addressed to another organization's deployment
    gets the answer of one that does not exist, whatever else is wrong with it (here its
    state, region and requester would each have had their own message naming its values)."""
    theirs = another_organizations_deployment(outsider)
    request = sandbox.create_customer_request(theirs, account_id="333344445555")
    errors = refusal(
        aws_deployment, request, account_id="999988887777", vpc_id="vpc-0123456789abcdef0"
    )
    assert errors == not_found(aws_deployment, request.peering_id)
    for secret in (theirs.vpc_id, theirs.cidr, "333344445555", request.vpc_id, request.cidr):
        assert secret not in str(errors)


def test_it_refuses_a_request_from_another_region(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment, region="eu-west-1")
    errors = refusal(aws_deployment, request)
    assert any("only available within the same region" in m for m in errors["peering_id"])


@pytest.mark.parametrize("cidr", ["100.64.0.0/16", "101.1.0.0/24"])
def test_it_refuses_a_customer_vpc_in_a_reserved_range(aws_deployment, cidr):
    request = sandbox.create_customer_request(aws_deployment, cidr=cidr)
    errors = refusal(aws_deployment, request)
    assert "reserves that range" in errors["vpc_id"][0]


def test_the_reserved_ranges_are_a_setting(aws_deployment, settings):
    import ipaddress

    settings.RESERVED_CIDRS = [ipaddress.ip_network("172.16.0.0/12")]
    request = sandbox.create_customer_request(aws_deployment, cidr="172.20.0.0/24")
    assert "reserves that range" in refusal(aws_deployment, request)["vpc_id"][0]
    settings.RESERVED_CIDRS = []
    request = sandbox.create_customer_request(aws_deployment, cidr="100.64.0.0/16")
    assert check(aws_deployment, request).cidrs == ["100.64.0.0/16"]


def test_it_refuses_a_customer_vpc_overlapping_the_deployment(aws_deployment):
    request = sandbox.create_customer_request(aws_deployment, cidr="10.20.128.0/24")
    errors = refusal(aws_deployment, request)
    assert "overlaps the deployment's CIDR 10.20.0.0/16" in errors["vpc_id"][0]


def test_it_refuses_a_customer_vpc_overlapping_a_live_peering(aws_deployment):
    make_peering(aws_deployment, "running", n=0xA, cidr="172.16.0.0/16")
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.4.0/24")
    errors = refusal(aws_deployment, request)
    assert "existing peering pcx-0000000000000000a" in errors["vpc_id"][0]


def live_rows(deployment, count, status="running"):
    for n in range(count):
        make_peering(deployment, status, n=n + 1, cidr=f"192.168.{n}.0/24")


def test_it_refuses_a_peering_the_security_group_has_no_room_for(aws_deployment, settings):
    settings.AWS_RULES_PER_SECURITY_GROUP = 8  # 4 CIDRs × 2 service ports
    live_rows(aws_deployment, 3, status="failed")  # failed peerings may still hold rules
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    assert check(aws_deployment, request)  # the fourth fits

    one_more = make_peering(aws_deployment, "pending", n=0xAAA, cidr="192.168.100.0/24")
    errors = refusal(aws_deployment, request)
    assert list(errors) == [None]
    assert (
        "its security group would need 10 rules (5 customer CIDRs × 2 service ports), "
        "over AWS's limit of 8"
    ) in errors[None][0]
    assert "ask our support team to raise the limit" in errors[None][1]
    one_more.status = "deleted"
    one_more.save()
    assert check(aws_deployment, request)  # ended peerings free their room


def test_a_confirmed_peering_is_never_failed_for_room_by_the_worker(aws_deployment, settings):
    first = confirmed(aws_deployment, cidr="172.16.8.0/24")
    second = confirmed(aws_deployment, cidr="172.16.9.0/24")
    settings.AWS_RULES_PER_SECURITY_GROUP = 2  # room for one; both were confirmed
    assert services.provision(first.pk) == "running"
    assert services.provision(second.pk) == "running"  # AWS, not our count, has the say


def test_it_refuses_a_peering_the_route_tables_have_no_room_for(aws_deployment, settings):
    settings.AWS_ROUTES_PER_ROUTE_TABLE = 4  # the local route and 3 customer CIDRs
    aws_deployment.service_ports = [1883]
    aws_deployment.save()
    live_rows(aws_deployment, 3)
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    errors = refusal(aws_deployment, request)
    assert (
        "its route tables would need 4 routes to customer CIDRs, over AWS's limit of 3"
        in (errors[None][0])
    )


def test_an_ended_peering_does_not_block_its_cidr(aws_deployment):
    make_peering(aws_deployment, "deleted", n=0xA, cidr="172.16.0.0/16")
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.4.0/24")
    assert check(aws_deployment, request)


def test_it_refuses_a_pcx_already_live_and_a_vpc_already_peered_before_asking_aws(
    deployment, monkeypatch
):
    make_peering(deployment, "failed", n=0xA, cidr="172.16.0.0/16")
    monkeypatch.setattr(aws, "client", lambda *a: pytest.fail("AWS must not be asked"))
    with pytest.raises(services.Refused) as caught:
        services.check_new_peering(
            deployment,
            peering_id="pcx-0000000000000000a",
            account_id=CUSTOMER,
            vpc_id="vpc-0000000000000000a",
        )
    assert "already in use" in str(caught.value.errors["peering_id"][0])
    assert "already peered with this deployment" in str(caught.value.errors["vpc_id"][0])


def test_a_pcx_live_in_another_organization_is_not_confirmed_as_in_use(aws_deployment, outsider):
    """Another organization's live peering ID is refused as a request that does not exist
    for this deployment (AWS has it addressed to their VPC), never as "already in use"."""
    theirs = another_organizations_deployment(outsider)
    request = sandbox.create_customer_request(theirs)
    make_peering(theirs, "running", peering_id=request.peering_id)
    errors = refusal(aws_deployment, request)
    assert "already in use" not in str(errors)
    assert errors == not_found(aws_deployment, request.peering_id)


def test_the_database_refuses_a_live_pcx_twice_across_organizations(deployment, outsider):
    from django.db import IntegrityError, transaction

    theirs = make_deployment(outsider.memberships.get().organization, name="theirs")
    make_peering(theirs, "running", peering_id="pcx-0000000000000000e")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_peering(deployment, "pending", peering_id="pcx-0000000000000000e")


# --- only what the checks verified becomes a peering ---


def test_it_refuses_to_create_from_an_unverified_request(
    aws_deployment, organization, owner, django_capture_on_commit_callbacks
):
    request = sandbox.create_customer_request(aws_deployment, cidr="172.16.8.0/24")
    in_aws = vendor_ec2().describe_peering(request.peering_id)
    # What a caller could hand over without the checks: the values as typed, or AWS's own
    # answer that nobody compared with the deployment.
    typed = SimpleNamespace(
        deployment_pk=aws_deployment.pk,
        in_aws=in_aws,
        peering_id=request.peering_id,
        account_id=request.account_id,
        vpc_id=request.vpc_id,
        cidrs=[request.cidr],
    )
    with pytest.raises(services.UnverifiedRequest):
        services.VerifiedRequest(deployment_pk=aws_deployment.pk, in_aws=in_aws)
    verified = check(aws_deployment, request)
    other = make_deployment(organization, name="billing")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        for unverified in (typed, vars(typed), None):
            with pytest.raises(services.UnverifiedRequest):
                services.create_peering(aws_deployment, verified=unverified, user=owner)
        with pytest.raises(services.UnverifiedRequest):  # verified, but for another deployment
            services.create_peering(other, verified=verified, user=owner)
    assert PeeringConnection.objects.count() == 0
    assert queued == []
    # The very same request, verified for this deployment, is recorded.
    peering = services.create_peering(aws_deployment, verified=verified, user=owner)
    assert (peering.status, peering.customer_cidrs) == ("pending", ["172.16.8.0/24"])


# --- what moto cannot show: botocore's Stubber plays AWS ---


@pytest.fixture
def stubbed(monkeypatch, settings):
    """An EC2 client whose answers the test scripts, wired in where the portal builds one."""
    settings.AWS_MAX_ATTEMPTS = 1
    stubber = Stubber(stub_ec2(monkeypatch))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def stubbed_check(deployment):
    return services.check_new_peering(
        deployment,
        peering_id=STUB_PCX,
        account_id=CUSTOMER,
        vpc_id=STUB_VPC,
    )


def test_it_passes_a_good_stubbed_request(stubbed, deployment):
    stubbed.add_response("describe_vpc_peering_connections", described(deployment))
    # Only a request that passed everything else has the deployment's routes read.
    stubbed.add_response(
        "describe_route_tables",
        {"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": deployment.vpc_id, "Routes": []}]},
    )
    assert stubbed_check(deployment).cidrs == ["172.16.0.0/24"]
    stubbed.assert_no_pending_responses()


def test_it_reads_aws_not_found_as_a_missing_request(stubbed, deployment):
    stubbed.add_client_error(
        "describe_vpc_peering_connections",
        service_error_code="InvalidVpcPeeringConnectionID.NotFound",
        http_status_code=400,
    )
    with pytest.raises(services.Refused) as caught:
        stubbed_check(deployment)
    assert "No VPC peering connection pcx-0000000000000000c exists" in (
        str(caught.value.errors["peering_id"][0])
    )


def test_a_request_addressed_to_another_account_reads_as_no_such_request(stubbed, deployment):
    answer = described(deployment, "expired")
    answer["VpcPeeringConnections"][0]["AccepterVpcInfo"]["OwnerId"] = "999999999999"
    stubbed.add_response("describe_vpc_peering_connections", answer)
    with pytest.raises(services.Refused) as caught:
        stubbed_check(deployment)
    assert as_read(caught.value.errors) == not_found(deployment, STUB_PCX)
    assert "999999999999" not in str(caught.value.errors)
    assert "expired" not in str(caught.value.errors)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("expired", "has expired"),
        ("failed", "failed in AWS. AWS says: boom"),
        ("rejected", "was rejected"),
        ("deleted", "has been deleted"),
        ("active", "already been accepted"),
    ],
)
def test_it_refuses_a_request_not_waiting_for_acceptance(stubbed, deployment, state, words):
    stubbed.add_response("describe_vpc_peering_connections", described(deployment, state, "boom"))
    with pytest.raises(services.Refused) as caught:
        stubbed_check(deployment)
    assert words in str(caught.value.errors["peering_id"][0])


def test_it_checks_every_cidr_of_a_vpc_with_several(stubbed, deployment):
    stubbed.add_response(
        "describe_vpc_peering_connections",
        described(
            deployment,
            CidrBlockSet=[{"CidrBlock": "172.16.0.0/24"}, {"CidrBlock": "100.64.0.0/24"}],
        ),
    )
    with pytest.raises(services.Refused) as caught:
        stubbed_check(deployment)
    assert "100.64.0.0/24" in str(caught.value.errors["vpc_id"][0])


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "InternalError", "ServiceUnavailable"])
def test_throttling_and_server_errors_are_unavailable_not_refusals(stubbed, deployment, code):
    stubbed.add_client_error(
        "describe_vpc_peering_connections",
        service_error_code=code,
        http_status_code=503 if code != "RequestLimitExceeded" else 400,
    )
    with pytest.raises(aws.AwsUnavailable):
        stubbed_check(deployment)


def test_the_dialog_shows_an_aws_refusal_instead_of_failing(client, owner, deployment, stubbed):
    stubbed.add_client_error(
        "describe_vpc_peering_connections",
        service_error_code="UnauthorizedOperation",
        service_message="arn:aws:iam::123456789012:role/secret-detail",
    )
    client.force_login(owner)
    response = client.post(
        reverse("peering-new", args=[deployment.pk]),
        {
            "peering_id": "pcx-0123456789abcdef0",
            "account_id": CUSTOMER,
            "vpc_id": "vpc-0123456789abcdef0",
        },
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "AWS refused our check of your request (UnauthorizedOperation)" in page
    assert "secret-detail" not in page
    assert not PeeringConnection.objects.exists()


# --- how long a customer can be kept waiting, and what is not an outage ---


@contextmanager
def silent_aws():
    """An endpoint that accepts connections and never answers; yields the list of
    connections it has accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.fixture
def fresh_clients():
    aws._home_client.cache_clear()
    yield
    aws._home_client.cache_clear()


def test_the_dialogs_check_gives_up_on_a_silent_aws_within_its_own_budget(
    deployment, settings, monkeypatch, fresh_clients
):
    # The workers' budget, were it used, would keep the customer waiting for minutes.
    settings.AWS_MAX_ATTEMPTS, settings.AWS_READ_TIMEOUT = 5, 60
    settings.AWS_CHECK_MAX_ATTEMPTS, settings.AWS_CHECK_READ_TIMEOUT = 2, 1
    with silent_aws() as (url, accepted):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        with pytest.raises(aws.AwsUnavailable):
            services.check_new_peering(
                deployment,
                peering_id="pcx-0123456789abcdef0",
                account_id=CUSTOMER,
                vpc_id="vpc-0123456789abcdef0",
            )
        # One try and one retry, each cut off after a second; the workers' budget is 5.
        assert len(accepted) == 2
    assert PeeringConnection.objects.count() == 0


def test_the_workers_keep_their_longer_budget(settings, fresh_clients):
    settings.AWS_READ_TIMEOUT, settings.AWS_CHECK_READ_TIMEOUT = 10, 3
    worker = vendor_ec2().ec2.meta.config
    dialog = aws.Ec2(REGION, VENDOR, interactive=True).ec2.meta.config
    assert (worker.read_timeout, dialog.read_timeout) == (10, 3)


def without_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_missing_credentials_are_retried_like_an_outage_and_logged_as_an_error(
    deployment, monkeypatch, tmp_path, fresh_clients, caplog, django_capture_on_commit_callbacks
):
    from django_q.models import Schedule

    # An instance role's credentials can be out of reach for a moment: retry, but loudly.
    without_credentials(monkeypatch, tmp_path)
    peering = make_peering(
        deployment,
        "pending",
        cidr="172.16.8.0/24",
        peering_id="pcx-0123456789abcdef0",
        customer_vpc_id="vpc-0123456789abcdef0",
    )
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        assert services.provision(peering.pk) == "pending"
    assert Schedule.objects.filter(func="peerings.tasks.provision_peering").count() == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r for r in errors if "NoCredentialsError" in r.getMessage()]
    # When the rounds run out, the customer is not told AWS was down.
    last_round = services.MAX_UNAVAILABLE_ROUNDS - 1
    assert services.provision(peering.pk, unavailable_rounds=last_round) == "failed"
    peering.refresh_from_db()
    # Named for the customer without its code (ours and support's to read in the log).
    assert "own AWS set-up has a problem" in peering.status_reason
    assert "NoCredentialsError" not in peering.status_reason
    assert "did not answer" not in peering.status_reason and peering.retryable


def test_missing_credentials_are_not_called_an_outage_in_the_dialog(
    client, owner, deployment, monkeypatch, tmp_path, fresh_clients
):
    without_credentials(monkeypatch, tmp_path)
    client.force_login(owner)
    response = client.post(
        reverse("peering-new", args=[deployment.pk]),
        {
            "peering_id": "pcx-0123456789abcdef0",
            "account_id": CUSTOMER,
            "vpc_id": "vpc-0123456789abcdef0",
        },
    )
    page = response.content.decode()
    assert "the portal&#x27;s own AWS set-up has a problem (NoCredentialsError)" in page
    assert "did not answer in time" not in page
    assert PeeringConnection.objects.count() == 0
