from django.core.management.base import BaseCommand

from core import audit
from peerings import services


class Command(BaseCommand):
    help = (
        "Compare every live peering with AWS, repair what differs, and re-queue peerings "
        "stuck in a transitional state (what the schedule runs every few minutes)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stuck-after",
            type=int,
            default=None,
            help="seconds in pending/provisioning/deleting before re-queuing "
            "(default: RECONCILE_STUCK_AFTER)",
        )

    def handle(self, *args, stuck_after, **options):
        with audit.acting_as(audit.SYSTEM):
            report = services.reconcile(stuck_after=stuck_after)
        self.stdout.write(f"Reconciled: {report}.")
