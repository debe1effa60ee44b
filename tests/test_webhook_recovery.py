"""Work lost with a worker or a broker is taken over: a delivery whose next step is overdue
is queued again, or its lost attempt recorded and retried (or failed, when it was the
last), by a sweep that never takes a delivery twice, leaves alone what is on time, and
runs on a standing schedule."""

import ast
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from tests.support.webhooks import (
    make_endpoint,
    send_test,
)
from webhooks import queue, services, tasks
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.services import recovery

pytestmark = pytest.mark.django_db


def overdue(delivery):
    """A moment after the delivery's next step counts as lost."""
    delivery.refresh_from_db()
    return delivery.presumed_lost_at + timedelta(seconds=1)


def settings_q_timeout():
    from django.conf import settings

    return settings.Q_TIMEOUT


def test_an_attempt_lost_with_its_worker_is_recorded_as_such_and_retried(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # the queued send: see below
        delivery = services.send_test_event(endpoint)
    claimed_at = timezone.now()
    assert services.claim_next_attempt(delivery) == 1  # ...and the worker is SIGKILLed
    delivery.refresh_from_db()
    assert delivery.presumed_lost_at > claimed_at + timedelta(seconds=settings_q_timeout())

    assert services.recover_stalled_deliveries(now=delivery.presumed_lost_at) == {}
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries(now=overdue(delivery))

    assert found == {"lost mid-attempt, retried": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    lost, made = delivery.attempts.all()
    assert (lost.number, lost.outcome, lost.status_code) == (1, "retrying", None)
    assert (lost.error_code, lost.error_params, lost.error_text) == ("webhook_attempt_lost", {}, "")
    assert lost.error.startswith("No outcome recorded: the worker making this attempt stopped")
    assert abs((lost.started_at - claimed_at).total_seconds()) < 5
    assert (made.number, made.status_code, made.outcome) == (2, 200, "succeeded")
    assert len(receiver.received) == 1


def test_a_queued_send_that_never_ran_is_queued_again(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the task
        delivery = services.send_test_event(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries(now=overdue(delivery))
    assert found == {"re-queued": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert [a.outcome for a in delivery.attempts.all()] == ["succeeded"]
    assert delivery.presumed_lost_at is None
    assert len(receiver.received) == 1


def test_a_retry_whose_schedule_was_lost_is_made_and_a_late_duplicate_then_does_nothing(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b""), (503, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    schedule = Schedule.objects.get(func=queue.DELIVER)
    retry_args = ast.literal_eval(schedule.args)
    schedule.delete()  # say, a database restored without it

    with django_capture_on_commit_callbacks(execute=True):
        assert services.recover_stalled_deliveries(now=overdue(delivery)) == {"re-queued": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 2)  # 503 again

    # The old retry, had it survived: still pending, but its attempt (2) has been made.
    assert tasks.deliver(*retry_args) is None
    delivery.refresh_from_db()
    assert delivery.attempt_count == 2
    assert delivery.attempts.count() == 2
    assert len(receiver.received) == 2


def test_a_stale_copy_of_a_task_never_makes_its_attempt_twice(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    receiver.answers = [(503, {}, b"")]
    endpoint = make_endpoint(organization, receiver.url)
    delivery = send_test(endpoint, django_capture_on_commit_callbacks)
    assert services.attempt_delivery(delivery.pk, 1) is None  # a broker's redelivery
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1
    assert len(receiver.received) == 1


def test_the_last_attempt_lost_with_its_worker_fails_the_delivery(
    organization, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    services.claim_next_attempt(delivery)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        found = services.recover_stalled_deliveries(now=overdue(delivery))
    assert found == {"lost mid-attempt, failed": 1}
    assert queued == []
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.finished_at is not None
    assert [(a.number, a.outcome) for a in delivery.attempts.all()] == [(1, "failed")]


def test_the_sweep_leaves_alone_what_is_on_time_or_finished(
    receiver, local_network, organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    done = send_test(endpoint, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        waiting = services.send_test_event(endpoint)
    waiting.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        found = services.recover_stalled_deliveries(
            now=waiting.presumed_lost_at - timedelta(seconds=1)
        )
    assert found == {} and queued == []
    done.refresh_from_db()
    assert done.status == "succeeded" and done.attempts.count() == 1


def test_of_the_sweep_and_a_late_worker_only_one_takes_a_delivery_over(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    stale = WebhookDelivery.objects.get(pk=delivery.pk)  # as the sweep read it
    services.claim_next_attempt(delivery)  # the worker starts after all
    with django_capture_on_commit_callbacks(execute=True) as queued:
        later = stale.presumed_lost_at + timedelta(seconds=1)
        assert recovery._take_over(stale, later) == "moved on meanwhile"
    assert queued == []


def test_the_sweep_keeps_off_a_delivery_whose_deadline_moved_meanwhile(
    organization, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.send_test_event(endpoint)
    stale = WebhookDelivery.objects.get(pk=delivery.pk)
    later = stale.presumed_lost_at + timedelta(seconds=1)
    # Another sweep took it over first: same attempt count, a new deadline.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        presumed_lost_at=later + timedelta(minutes=10)
    )
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert recovery._take_over(stale, later) == "moved on meanwhile"
    assert queued == []


def test_a_delivery_made_before_deadlines_existed_is_swept_once_long_overdue(
    receiver, local_network, organization, settings, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization, receiver.url)
    created = timezone.now() - timedelta(seconds=settings.RECONCILE_STUCK_AFTER + 5)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", body="{}", created_at=created
    )
    retrying = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="webhook.test",
        body="{}",
        created_at=created,
        attempt_count=1,
        next_attempt_at=timezone.now(),
    )
    WebhookAttempt.objects.create(
        delivery=retrying,
        number=1,
        started_at=created,
        duration_ms=5,
        status_code=503,
        outcome="retrying",
    )
    with django_capture_on_commit_callbacks(execute=True):
        found = services.recover_stalled_deliveries()
    assert found == {"re-queued": 1}  # not the one whose retry is still to come
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_one_delivery_that_cannot_be_taken_over_does_not_keep_the_others_waiting(
    organization, monkeypatch, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(organization)
    with django_capture_on_commit_callbacks(execute=False):
        broken = services.send_test_event(endpoint)
        fine = services.send_test_event(endpoint)
    real_take_over = recovery._take_over

    def take_over(delivery, now):
        if delivery.pk == broken.pk:
            raise RuntimeError("a row that cannot be taken over")
        return real_take_over(delivery, now)

    monkeypatch.setattr(recovery, "_take_over", take_over)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        found = services.recover_stalled_deliveries(now=overdue(fine))
    assert found == {"re-queued": 1, "could not be taken over (see the log)": 1}
    assert len(queued) == 1


# --- the standing schedule ---


def test_the_recovery_schedule_is_not_put_back_for_webhooks_migrated_back_before_it(db):
    from django.db.migrations.loader import MigrationLoader

    from webhooks import signals

    Schedule.objects.filter(func=queue.RECOVER).delete()
    before_recovery = MigrationLoader(connection).project_state(("webhooks", "0001_initial"))
    signals.keep_bootstrap_rows(sender=None, apps=before_recovery.apps)
    assert not Schedule.objects.filter(func=queue.RECOVER).exists()
    signals.keep_bootstrap_rows(sender=None)  # a flush: the code's own models
    assert Schedule.objects.filter(func=queue.RECOVER).count() == 1


def test_the_recovery_schedule_exists_and_its_task_reports_what_it_did(db):
    schedule = Schedule.objects.get(func=queue.RECOVER)
    assert schedule.schedule_type == Schedule.MINUTES and schedule.repeats == -1
    assert tasks.recover_stalled_deliveries() == "nothing"
