"""Deleting a peering, and the binding rules between peerings and resources, enforced by the
services and, underneath them, by the database itself."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django_q.models import Schedule

from peerings import aws, services
from peerings.models import PeeringConnection, Resource
from tests.support.aws import customer_ec2, nothing_left_for, rules_for, vendor_ec2
from tests.support.factories import make_deployment, make_peering, make_resource, provisioned

pytestmark = pytest.mark.django_db

# --- refusals ---


@pytest.mark.parametrize("status", ["pending", "provisioning", "deleting"])
def test_it_refuses_to_delete_a_peering_in_a_transitional_state(deployment, status):
    peering = make_peering(deployment, status=status)
    with pytest.raises(services.DeleteRefused, match=f"is {status}"):
        services.request_delete(peering)
    peering.refresh_from_db()
    assert peering.status == status


def test_it_refuses_to_delete_a_peering_with_resources_and_names_them(deployment):
    peering = make_peering(deployment)
    make_resource(peering, "orders-db")
    make_resource(peering, "events-kafka", "172.16.1.11")
    with pytest.raises(services.DeleteRefused) as caught:
        services.request_delete(peering)
    assert "events-kafka, orders-db" in str(caught.value)
    assert [r.name for r in caught.value.resources] == ["events-kafka", "orders-db"]
    assert PeeringConnection.objects.get(pk=peering.pk).status == "running"


@pytest.mark.parametrize("status", ["running", "failed", "peer_deleted"])
def test_it_allows_deleting_from_each_stable_state(
    deployment, status, django_capture_on_commit_callbacks
):
    peering = make_peering(deployment, status=status)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        services.request_delete(peering)
    assert PeeringConnection.objects.get(pk=peering.pk).status == "deleting"
    assert len(queued) == 1


def test_a_host_ip_must_lie_in_the_peering_cidr(deployment):
    peering = make_peering(deployment)
    with pytest.raises(services.Refused) as caught:
        services.add_resource(
            deployment, peering=peering, name="db", kind="mysql", host="10.9.9.9", port=3306
        )
    assert "outside 172.16.1.0/24" in caught.value.errors["host"][0]
    services.add_resource(
        deployment, peering=peering, name="db", kind="mysql", host="172.16.1.200", port=3306
    )
    services.add_resource(
        deployment, peering=peering, name="cache", kind="redis", host="cache.internal", port=6379
    )
    assert deployment.resources.count() == 2


def test_it_refuses_a_peering_of_another_deployment(deployment, organization):
    other = make_peering(make_deployment(organization, name="billing"), n=2)
    with pytest.raises(services.Refused) as caught:
        services.add_resource(
            deployment, peering=other, name="db", kind="mysql", host="172.16.2.10", port=3306
        )
    assert "peering" in caught.value.errors
    assert not Resource.objects.exists()


def test_binding_to_a_peering_that_stopped_running_is_refused_by_the_service(deployment):
    peering = make_peering(deployment)
    stale = PeeringConnection.objects.get(pk=peering.pk)
    PeeringConnection.objects.filter(pk=peering.pk).update(status="failed")
    with pytest.raises(services.Refused) as caught:
        services.add_resource(
            deployment, peering=stale, name="db", kind="mysql", host="172.16.1.10", port=3306
        )
    assert "is failed now" in caught.value.errors["peering"][0]
    assert not Resource.objects.exists()


def test_binding_to_a_peering_known_not_to_be_running_is_refused_before_the_database(deployment):
    peering = make_peering(deployment, status="failed")
    with pytest.raises(services.Refused) as caught:
        services.add_resource(
            deployment, peering=peering, name="db", kind="mysql", host="172.16.1.10", port=3306
        )
    assert caught.value.errors == {
        "peering": [f"{peering.peering_id} is failed; resources need a running VPC peering."]
    }
    assert not Resource.objects.exists()


def test_a_taken_name_is_refused_by_the_service_in_the_dialogs_words(deployment):
    peering = make_peering(deployment)
    make_resource(peering, "orders-db")
    with pytest.raises(services.Refused) as caught:
        services.add_resource(
            deployment,
            peering=peering,
            name="orders-db",
            kind="redis",
            host="172.16.1.11",
            port=6379,
        )
    assert caught.value.errors == {"name": ["A resource called orders-db already exists."]}
    assert deployment.resources.count() == 1


# --- the database refuses the bad cases when the services are bypassed ---


@pytest.mark.parametrize(
    "status", ["pending", "provisioning", "failed", "deleting", "deleted", "peer_deleted"]
)
def test_the_database_refuses_binding_to_a_peering_that_is_not_running(deployment, status):
    peering = make_peering(deployment, status=status)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_resource(peering)


def test_the_database_refuses_binding_to_another_deployments_peering(deployment, organization):
    other = make_peering(make_deployment(organization, name="billing"), n=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Resource.objects.create(
            deployment=deployment,
            peering=other,
            name="db",
            kind="mysql",
            host="172.16.2.10",
            port=3306,
        )


def test_the_database_refuses_moving_a_bound_resource_to_a_peering_not_running(deployment):
    running = make_peering(deployment)
    resource = make_resource(running)
    failed = make_peering(deployment, n=2, status="failed")
    with pytest.raises(IntegrityError), transaction.atomic():
        Resource.objects.filter(pk=resource.pk).update(peering=failed)


@pytest.mark.parametrize("status", ["deleting", "deleted"])
def test_the_database_refuses_deleting_a_peering_with_a_resource(deployment, status):
    peering = make_peering(deployment)
    make_resource(peering)
    with pytest.raises(IntegrityError), transaction.atomic():
        PeeringConnection.objects.filter(pk=peering.pk).update(status=status)
    table = PeeringConnection._meta.db_table
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET status = %s WHERE id = %s", [status, peering.pk])
    assert PeeringConnection.objects.get(pk=peering.pk).status == "running"


def test_the_database_lets_reconcile_mark_a_bound_peering_peer_deleted(deployment):
    peering = make_peering(deployment)
    make_resource(peering)
    PeeringConnection.objects.filter(pk=peering.pk).update(status="peer_deleted")
    assert PeeringConnection.objects.get(pk=peering.pk).status == "peer_deleted"


# --- the delete task against the simulator ---


def test_deleting_removes_our_routes_rules_and_the_pcx(
    aws_deployment, django_capture_on_commit_callbacks
):
    peering = provisioned(aws_deployment)
    assert not nothing_left_for(aws_deployment, peering)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_delete(peering)
    peering.refresh_from_db()
    assert peering.status == "deleted"
    assert nothing_left_for(aws_deployment, peering)
    seen = vendor_ec2().describe_peering(peering.peering_id)
    assert seen is None or seen.status == "deleted"


def test_deleting_leaves_routes_that_are_not_ours(aws_deployment):
    peering = provisioned(aws_deployment)
    ec2 = vendor_ec2()
    tables = ec2.route_tables(aws_deployment.vpc_id)
    table_id = next(iter(tables))
    igw = ec2.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=aws_deployment.vpc_id)
    ec2.ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    peering.move("deleting", allowed_from=["running"])
    assert services.deprovision(peering.pk) == "deleted"
    remaining = ec2.route_tables(aws_deployment.vpc_id)[table_id]
    assert any(r.get("GatewayId") == igw for r in remaining)


def test_the_delete_task_is_idempotent_run_twice_or_after_an_interruption(aws_deployment):
    peering = provisioned(aws_deployment)
    ec2 = vendor_ec2()
    # Interrupted after revoking one rule and deleting one route:
    ec2.revoke_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 1883)
    table_id, routes = next(iter(ec2.route_tables(aws_deployment.vpc_id).items()))
    ec2.delete_route(table_id, "172.16.8.0/24", peering.peering_id, routes)
    peering.move("deleting", allowed_from=["running"])
    assert services.deprovision(peering.pk) == "deleted"
    # Run again from deleting (a redelivered task): still converges, nothing raised.
    PeeringConnection.objects.filter(pk=peering.pk).update(status="deleting")
    assert services.deprovision(peering.pk) == "deleted"
    assert nothing_left_for(aws_deployment, peering)


def test_the_delete_task_tolerates_a_pcx_the_customer_already_deleted(aws_deployment):
    peering = provisioned(aws_deployment)
    customer_ec2().delete_peering(peering.peering_id)
    peering.move("deleting", allowed_from=["running"])
    assert services.deprovision(peering.pk) == "deleted"
    assert nothing_left_for(aws_deployment, peering)


def test_a_failed_delete_says_why_and_can_be_deleted_again(aws_deployment, monkeypatch):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])

    def refuse(self, peering_id):
        raise aws.AwsRefused("not allowed", code="UnauthorizedOperation")

    monkeypatch.setattr(aws.Ec2, "delete_peering", refuse)
    assert services.deprovision(peering.pk) == "failed"
    peering.refresh_from_db()
    assert "UnauthorizedOperation" in peering.status_reason
    assert "press Delete again" in peering.status_reason
    monkeypatch.undo()
    services.request_delete(peering)
    assert services.deprovision(peering.pk) == "deleted"


def test_deleting_an_ended_peering_keeps_the_rules_a_live_one_with_its_cidr_needs(aws_deployment):
    old = provisioned(aws_deployment)
    customer_ec2().delete_peering(old.peering_id)
    services.resync(old)
    assert PeeringConnection.objects.get(pk=old.pk).status == "peer_deleted"
    new = provisioned(aws_deployment)  # the customer's new VPC reuses 172.16.8.0/24
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    old.refresh_from_db()
    services.request_delete(old)
    assert services.deprovision(old.pk) == "deleted"
    assert rules_for(aws_deployment, "172.16.8.0/24") == [1883, 8883]
    assert PeeringConnection.objects.get(pk=new.pk).status == "running"


def test_the_delete_task_removes_what_a_racing_repair_put_back(aws_deployment, monkeypatch):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])
    real_delete = aws.Ec2.delete_peering

    def repair_sneaks_in(self, peering_id):
        # Between our revoke and the pcx delete, a repair re-adds a rule.
        self.ensure_ingress(aws_deployment.security_group_id, "172.16.8.0/24", 1883, "x")
        return real_delete(self, peering_id)

    monkeypatch.setattr(aws.Ec2, "delete_peering", repair_sneaks_in)
    assert services.deprovision(peering.pk) == "deleted"
    assert rules_for(aws_deployment, "172.16.8.0/24") == []


def test_throttling_during_a_delete_is_retried_later_not_a_failure(
    aws_deployment, monkeypatch, django_capture_on_commit_callbacks
):
    peering = provisioned(aws_deployment)
    peering.move("deleting", allowed_from=["running"])

    def throttled(self, peering_id):
        raise aws.AwsUnavailable("slow down", code="RequestLimitExceeded")

    monkeypatch.setattr(aws.Ec2, "delete_peering", throttled)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deprovision(peering.pk) == "deleting"
    assert Schedule.objects.filter(func="peerings.tasks.deprovision_peering").exists()
    monkeypatch.undo()
    assert services.deprovision(peering.pk, unavailable_rounds=1) == "deleted"


# --- racing "bind a resource" against "delete the peering", on real PostgreSQL ---


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="row locks race on PostgreSQL; SQLite serialises all writers",
)
def test_bind_racing_delete_always_ends_consistent(organization, monkeypatch):
    from peerings import queue

    monkeypatch.setattr(queue, "enqueue_deprovision", lambda peering: None)  # the DB race only
    deployment = make_deployment(organization)
    outcomes = []
    # Until both outcomes have happened (at least 20 races, at most 200): which side wins
    # depends on thread scheduling, and a loaded box may favour one for a while.
    for n in range(200):
        if n >= 20 and set(outcomes) == {"bound", "deleting"}:
            break
        peering = make_peering(deployment, n=n + 1)
        start = threading.Barrier(2)
        results = {}

        def bind_it(peering=peering, start=start, results=results):
            start.wait()
            try:
                services.add_resource(
                    deployment,
                    peering=peering,
                    name=f"db-{peering.pk}",
                    kind="mysql",
                    host=peering.customer_cidrs[0][:-4] + "10",
                    port=3306,
                )
                results["bind"] = True
            except services.Refused:
                results["bind"] = False
            finally:
                connections.close_all()

        def delete_it(peering=peering, start=start, results=results):
            start.wait()
            try:
                services.request_delete(PeeringConnection.objects.get(pk=peering.pk))
                results["delete"] = True
            except services.DeleteRefused:
                results["delete"] = False
            finally:
                connections.close_all()

        threads = [threading.Thread(target=bind_it), threading.Thread(target=delete_it)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        peering.refresh_from_db()
        bound = peering.resources.exists()
        assert results["bind"] != results["delete"], results
        if bound:
            assert peering.status == "running"
        else:
            assert peering.status in ("deleting", "deleted")
        outcomes.append("bound" if bound else "deleting")
    # Both outcomes happened, or the test did not race at all.
    assert set(outcomes) == {"bound", "deleting"}, outcomes
