"""Deliveries know when their next step counts as lost, and a django-q2 schedule takes over
the ones that are (a worker killed mid-attempt, a queued send or retry that never ran)."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from webhooks.bootstrap import WEBHOOK_RECOVERY_SCHEDULE, ensure_webhook_recovery_schedule


def backfill_and_schedule(apps, schema_editor):
    # Pending deliveries made before this field get the time a queued send has after they
    # are due (now, or their scheduled retry), then the sweep takes them over.
    delivery_model = apps.get_model("webhooks", "WebhookDelivery")
    now = timezone.now()
    for delivery in delivery_model.objects.filter(status="pending", presumed_lost_at=None):
        due = max(delivery.next_attempt_at or now, now)
        delivery.presumed_lost_at = due + timedelta(seconds=settings.RECONCILE_STUCK_AFTER)
        delivery.save(update_fields=["presumed_lost_at"])
    ensure_webhook_recovery_schedule(apps.get_model("django_q", "Schedule"))


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name=WEBHOOK_RECOVERY_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="presumed_lost_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(condition=models.Q(("status", "pending")),
                               fields=["presumed_lost_at"], name="webhook_delivery_pending_due"),
        ),
        migrations.RunPython(backfill_and_schedule, remove_schedule),
    ]
