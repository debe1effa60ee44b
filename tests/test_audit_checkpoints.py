"""The audit chain anchored: its head is checkpointed on a schedule (a row, and a log line
to keep elsewhere), and `verify_audit_chain` reports what the chain alone cannot see: rows
removed from its newest end, and an emptied table."""

import io
import logging
import pydoc
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.models import Schedule

from core import audit, bootstrap, checkpoints
from core.models import AppendOnlyError, AuditCheckpoint, AuditEvent
from tests.support.audit import behind_the_models_back

pytestmark = pytest.mark.django_db


def record(n, organization):
    return [
        audit.record("peering.created", organization=organization, message=f"event {i}")
        for i in range(n)
    ]


def verify():
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def refusal():
    with pytest.raises(CommandError) as failure:
        verify()
    return str(failure.value)


def test_a_checkpoint_records_the_head_and_count_and_logs_them_in_one_line(organization, caplog):
    events = record(5, organization)
    with caplog.at_level(logging.INFO, logger="audit.checkpoint"):
        checkpoint = checkpoints.write_checkpoint()
    assert (checkpoint.head_event_id, checkpoint.head_hash, checkpoint.event_count) == (
        events[-1].pk,
        events[-1].hash,
        5,
    )
    [line] = [r for r in caplog.records if r.name == "audit.checkpoint"]
    assert events[-1].hash in line.getMessage()
    assert "5 events" in line.getMessage()
    assert line.audit_head_hash == events[-1].hash
    assert line.audit_event_count == 5


def test_an_empty_log_is_checkpointed_as_empty(db):
    checkpoint = checkpoints.write_checkpoint()
    assert (checkpoint.head_event_id, checkpoint.head_hash, checkpoint.event_count) == (None, "", 0)
    assert "intact" in verify()


def test_the_schedule_checkpoints_the_chain(organization):
    schedule = Schedule.objects.get(name=bootstrap.AUDIT_CHECKPOINT_SCHEDULE)
    assert schedule.func == "core.tasks.checkpoint_audit_chain"
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.MINUTES, -1)
    assert schedule.minutes == settings.AUDIT_CHECKPOINT_EVERY_MINUTES
    record(2, organization)
    pydoc.locate(schedule.func)()  # what the cluster runs: the function the schedule names
    assert AuditCheckpoint.objects.get().event_count == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_cluster_checkpoints_on_schedule_and_logs_the_line(organization, cluster):
    process, log = cluster
    events = record(3, organization)
    # The cluster fixture put the standing schedules off; this one is due now.
    Schedule.objects.filter(name=bootstrap.AUDIT_CHECKPOINT_SCHEDULE).update(
        next_run=timezone.now()
    )
    line = "audit.checkpoint audit checkpoint "
    deadline = time.monotonic() + 120  # the scheduler looks every 30 s
    while time.monotonic() < deadline and process.poll() is None:
        log.seek(0)
        if line in log.read():  # logged once the row is committed
            break
        time.sleep(0.5)
    log.seek(0)
    output = log.read()
    checkpoint = AuditCheckpoint.objects.first()
    assert checkpoint is not None, output[-3000:]
    assert (checkpoint.event_count, checkpoint.head_hash) == (3, events[-1].hash)
    assert f"{line}{checkpoint.pk}: 3 events, head event {events[-1].pk}, hash " in output


def test_the_schedule_is_put_back_after_a_flush_but_not_before_its_table(db):
    from django.db.migrations.loader import MigrationLoader

    from core import signals

    Schedule.objects.filter(name=bootstrap.AUDIT_CHECKPOINT_SCHEDULE).delete()
    before = MigrationLoader(connection).project_state(("core", "0002_move_content_types"))
    signals.keep_bootstrap_rows(sender=None, apps=before.apps)
    assert not Schedule.objects.filter(name=bootstrap.AUDIT_CHECKPOINT_SCHEDULE).exists()
    signals.keep_bootstrap_rows(sender=None)  # a flush: the code's own models
    assert Schedule.objects.filter(name=bootstrap.AUDIT_CHECKPOINT_SCHEDULE).count() == 1


def test_an_untouched_log_verifies_against_every_checkpoint(organization):
    record(3, organization)
    checkpoints.write_checkpoint()
    record(2, organization)
    last = checkpoints.write_checkpoint()
    record(1, organization)  # after the last checkpoint: vouched for by none yet
    assert checkpoints.rows_missing() is None
    assert f"6 events verified, anchored by checkpoint {last.pk}" in verify()


def test_events_removed_from_the_newest_end_are_reported(organization):
    events = record(5, organization)
    checkpoint = checkpoints.write_checkpoint()
    with behind_the_models_back() as cursor:
        cursor.execute(
            "DELETE FROM peerings_auditevent WHERE id IN (%s, %s)", [events[3].pk, events[4].pk]
        )
    assert audit.first_broken_link() is None  # what is left still links up
    message = refusal()
    assert f"Checkpoint {checkpoint.pk} " in message
    assert f"counted 5 events up to event {events[4].pk}" in message
    assert "that event is gone and 3 events are left up to it, 2 missing" in message


def test_events_removed_before_later_events_and_checkpoints_are_still_reported(organization):
    events = record(4, organization)
    first = checkpoints.write_checkpoint()
    with behind_the_models_back() as cursor:
        cursor.execute("DELETE FROM peerings_auditevent WHERE id = %s", [events[3].pk])
    record(3, organization)  # links up to what was left
    checkpoints.write_checkpoint()  # blesses the shorter log...
    assert audit.first_broken_link() is None
    message = refusal()  # ...but the first checkpoint still vouches for the removed event
    assert f"Checkpoint {first.pk} " in message
    assert "1 missing" in message
    assert "(1 of 2 checkpoints disagree with the log)" in message


def test_the_next_checkpoint_logs_an_error_when_events_went_missing(organization, caplog):
    events = record(3, organization)
    checkpoints.write_checkpoint()
    record(2, organization)
    with caplog.at_level(logging.INFO, logger="audit.checkpoint"):
        checkpoints.write_checkpoint()  # nothing missing: no error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with behind_the_models_back() as cursor:
        cursor.execute("DELETE FROM peerings_auditevent WHERE id = %s", [events[0].pk])
    with caplog.at_level(logging.INFO, logger="audit.checkpoint"):
        checkpoints.write_checkpoint()
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.name == "audit.checkpoint"
    assert "missing or changed" in error.getMessage()


def test_events_removed_from_the_middle_are_counted_too(organization):
    events = record(5, organization)
    checkpoints.write_checkpoint()
    with behind_the_models_back() as cursor:
        cursor.execute("DELETE FROM peerings_auditevent WHERE id = %s", [events[1].pk])
    message = refusal()
    assert f"Audit chain broken at event {events[2].pk} " in message
    assert "4 events are left up to it, 1 missing" in message


def test_an_emptied_log_is_reported_even_when_its_chain_starts_again(organization):
    """TRUNCATE on PostgreSQL (no row trigger sees it); SQLite has no TRUNCATE, and a raw
    DELETE of every row is its equivalent."""
    events = record(4, organization)
    checkpoints.write_checkpoint()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # TRUNCATE refuses while deferred foreign-key checks are pending: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE peerings_auditevent")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute("DELETE FROM peerings_auditevent")
    assert not AuditEvent.objects.exists()
    record(2, organization)  # a fresh chain, whole by itself
    assert audit.first_broken_link() is None
    message = refusal()
    assert f"counted 4 events up to event {events[-1].pk}" in message
    assert "that event is gone and 0 events are left up to it, 4 missing" in message


def test_a_replaced_head_event_is_reported(organization):
    events = record(3, organization)
    checkpoints.write_checkpoint()
    with behind_the_models_back() as cursor:
        cursor.execute(
            "UPDATE peerings_auditevent SET hash = %s WHERE id = %s", ["f" * 64, events[-1].pk]
        )
    assert f"that event's hash is now {'f' * 64} (it was replaced)" in refusal()


def test_checkpoints_are_never_changed_or_deleted_through_the_models(db):
    checkpoint = checkpoints.write_checkpoint()
    checkpoint.event_count = 99
    with pytest.raises(AppendOnlyError):
        checkpoint.save()
    with pytest.raises(AppendOnlyError):
        checkpoint.delete()
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.update(event_count=99)
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.all().delete()
    assert AuditCheckpoint.objects.get().event_count == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)
@pytest.mark.parametrize(
    "sql", ["UPDATE core_auditcheckpoint SET event_count = 99", "DELETE FROM core_auditcheckpoint"]
)
def test_postgresql_refuses_raw_updates_and_deletes_of_checkpoints(db, sql):
    checkpoints.write_checkpoint()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditCheckpoint.objects.get().event_count == 0
