from django.core.management.base import BaseCommand, CommandError

from core import audit, checkpoints
from core.models import AuditCheckpoint, AuditEvent


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain and report the first broken link, and check the log "
        "against its checkpoints: events missing from its newest end, or an emptied table."
    )

    def handle(self, *args, **options):
        problems = []
        broken = audit.first_broken_link()
        if broken:
            event, why = broken
            problems.append(
                f"Audit chain broken at event {event.pk} ({event.created_at:%Y-%m-%d %H:%M:%S} "
                f"{event.action}): {why}."
            )
        missing = checkpoints.rows_missing()
        if missing:
            problems.append(f"Audit events missing. {missing}")
        if problems:
            raise CommandError("\n".join(problems))
        last = AuditCheckpoint.objects.order_by("-id").first()
        anchored = (
            f", anchored by checkpoint {last.pk} of {last.created_at:%Y-%m-%d %H:%M:%S} "
            f"({last.event_count} events)"
            if last
            else ", no checkpoint yet"
        )
        self.stdout.write(
            f"Audit chain intact: {AuditEvent.objects.count()} events verified{anchored}."
        )
