from django.core.management.base import BaseCommand, CommandError

from core import audit
from core.models import AuditEvent


class Command(BaseCommand):
    help = "Check the audit log's hash chain and report the first broken link."

    def handle(self, *args, **options):
        broken = audit.first_broken_link()
        if broken:
            event, why = broken
            raise CommandError(
                f"Audit chain broken at event {event.pk} ({event.created_at:%Y-%m-%d %H:%M:%S} "
                f"{event.action}): {why}."
            )
        self.stdout.write(f"Audit chain intact: {AuditEvent.objects.count()} events verified.")
