from django.core.management.base import BaseCommand

from demo import world


class Command(BaseCommand):
    help = "Create (or repair) the demo world in the database and the AWS simulator."

    def handle(self, *args, **options):
        report = world.seed()
        self.stdout.write(
            f"Demo world ready: {report.created} deployments created, "
            f"{report.rebuilt} rebuilt in a fresh simulator, {report.kept} already in place."
        )
