from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError

from demo import sandbox
from peerings import aws
from peerings.models import Deployment
from peerings.validators import normalize_cidr


class Command(BaseCommand):
    help = (
        "Play the customer: create a VPC in a simulated customer account and a VPC peering "
        "request from it to a deployment, then print the three values to paste."
    )

    def add_arguments(self, parser):
        parser.add_argument("deployment", help="deployment ID or name")
        parser.add_argument("--region", help="customer VPC region (default: the deployment's)")
        parser.add_argument("--cidr", help="customer VPC CIDR (default: a free /24)")
        parser.add_argument("--account", help="customer account ID (default: the sandbox's)")

    def handle(self, *args, deployment, region, cidr, account, **options):
        target = Deployment.objects.filter(name=deployment).first()
        if target is None and deployment.isdigit():
            target = Deployment.objects.filter(pk=int(deployment)).first()
        if target is None:
            raise CommandError(f"No deployment called {deployment!r}.")
        if cidr:
            try:
                cidr = normalize_cidr(cidr)
            except ValidationError as exc:
                raise CommandError(f"--cidr: {' '.join(exc.messages)}") from None
        try:
            request = sandbox.create_customer_request(
                target, region=region, cidr=cidr, account_id=account
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except aws.AwsError as exc:
            raise CommandError(
                f"The AWS simulator did not answer ({exc.code or exc}); is `make run` running?"
            ) from None
        self.stdout.write(
            f"Created a peering request from {request.vpc_id} ({request.cidr}, "
            f"{request.region}) in account {request.account_id} to {target.name}.\n"
            f"Paste these into the dialog:\n"
            f"  Peering ID: {request.peering_id}\n"
            f"  Account ID: {request.account_id}\n"
            f"  VPC ID:     {request.vpc_id}\n"
        )
