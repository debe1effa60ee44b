import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from core.models import Membership
from peerings.models import Deployment, PeeringConnection
from tests.support.factories import make_deployment, make_resource

pytestmark = pytest.mark.django_db

PCX = "pcx-0a1b2c3d4e5f60718"
VPC = "vpc-11112222333344445"


def peering(deployment, **overrides):
    values = {
        "peering_id": PCX,
        "customer_account_id": "210987654321",
        "customer_vpc_id": VPC,
        "customer_cidrs": ["172.16.0.0/24"],
    }
    values.update(overrides)
    return PeeringConnection.objects.create(deployment=deployment, **values)


def test_it_refuses_two_live_peerings_with_one_pcx(deployment, organization):
    peering(deployment)
    other = make_deployment(organization, name="billing")
    with pytest.raises(IntegrityError), transaction.atomic():
        peering(other, customer_vpc_id="vpc-99998888777766665")


def test_it_allows_reusing_a_pcx_once_the_old_row_is_deleted(deployment):
    peering(deployment, status=PeeringConnection.Status.DELETED)
    peering(deployment)
    assert PeeringConnection.objects.filter(peering_id=PCX).count() == 2


def test_it_refuses_two_live_peerings_of_one_vpc_with_one_deployment(deployment):
    peering(deployment)
    with pytest.raises(IntegrityError), transaction.atomic():
        peering(deployment, peering_id="pcx-99998888777766665")


def test_it_counts_failed_peerings_as_live(deployment):
    peering(deployment, status=PeeringConnection.Status.FAILED)
    with pytest.raises(IntegrityError), transaction.atomic():
        peering(deployment, peering_id="pcx-99998888777766665")


def test_it_allows_the_same_vpc_after_the_customer_deleted_the_old_peering(deployment):
    peering(deployment, status=PeeringConnection.Status.PEER_DELETED)
    peering(deployment, peering_id="pcx-99998888777766665")


def test_it_refuses_a_status_outside_its_choices(deployment):
    with pytest.raises(IntegrityError), transaction.atomic():
        peering(deployment, status="sleeping")


def test_it_refuses_an_unknown_plan_or_role(organization, owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_deployment(organization, plan="platinum")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(user=owner).update(role="admin")


def test_it_refuses_deleting_a_peering_that_has_resources(deployment):
    bound = peering(deployment, status=PeeringConnection.Status.RUNNING)
    make_resource(bound, "db")
    with pytest.raises(ProtectedError):
        bound.delete()


@pytest.mark.django_db(transaction=True)
def test_the_database_itself_refuses_deleting_a_peering_that_has_resources(organization):
    deployment = make_deployment(organization)
    bound = peering(deployment, status=PeeringConnection.Status.RUNNING)
    make_resource(bound, "db")
    table = PeeringConnection._meta.db_table
    # Raw SQL, past the ORM's PROTECT: the foreign key refuses it when the transaction
    # commits (Django's foreign keys are deferred on SQLite and PostgreSQL alike).
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [bound.pk])
    assert PeeringConnection.objects.filter(pk=bound.pk).exists()


def test_it_refuses_a_resource_port_out_of_range(deployment):
    bound = peering(deployment, status=PeeringConnection.Status.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_resource(bound, "db", port=70000)


def test_move_is_compare_and_set(deployment):
    row = peering(deployment)
    stale = PeeringConnection.objects.get(pk=row.pk)
    assert row.move("provisioning", allowed_from=["pending"])
    assert not stale.move("failed", allowed_from=["pending"], reason_code="aws_rejected")
    assert PeeringConnection.objects.get(pk=row.pk).status == "provisioning"
    assert stale.status == "pending"


def test_full_clean_names_each_bad_field(organization):
    bad = Deployment(
        organization=organization,
        name="x",
        plan="dedicated",
        region="Mars",
        vendor_account_id="12",
        vpc_id="vpc-1",
        cidr="10.0.5.0/16",
        security_group_id="sg-1",
        service_ports=[0],
    )
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert set(caught.value.message_dict) == {
        "region",
        "vendor_account_id",
        "vpc_id",
        "cidr",
        "security_group_id",
        "service_ports",
    }


def test_deployment_normalises_its_cidr(organization):
    d = Deployment(
        organization=organization,
        name="x",
        plan="dedicated",
        region="us-east-1",
        vendor_account_id="123456789012",
        vpc_id="vpc-1a2b3c4d",
        cidr=" 10.0.0.0/16 ",
        security_group_id="sg-1a2b3c4d",
        service_ports=[1883],
    )
    d.full_clean()
    assert d.cidr == "10.0.0.0/16"


def test_peering_is_offered_only_on_plans_that_allow_it(organization):
    assert make_deployment(organization, name="a", plan="dedicated").peering_allowed
    assert not make_deployment(organization, name="b", plan="free_trial").peering_allowed
    assert not make_deployment(organization, name="c", plan="shared").peering_allowed
