import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from demo import sandbox
from peerings import access, aws, views
from peerings.forms import PeeringForm

log = logging.getLogger(__name__)


@login_required
@require_POST
def customer_request(request, pk):
    """Play the customer from the sandbox account and fill the dialog's form in."""
    deployment = access.deployment_for(request, pk, to_act=True)
    views.refuse_unless_peering_allowed(deployment)
    try:
        made = sandbox.create_customer_request(deployment)
    except (aws.AwsError, ImproperlyConfigured) as exc:
        log.warning("demo request for %s: %s", deployment, exc)
        return views.peering_dialog(
            request,
            deployment,
            PeeringForm(deployment=deployment),
            demo_problem=_(
                "The AWS simulator did not answer, so no sandbox request was made. "
                "Is `make run` still running?"
            ),
        )
    form = PeeringForm(
        initial={
            "peering_id": made.peering_id,
            "account_id": made.account_id,
            "vpc_id": made.vpc_id,
        },
        deployment=deployment,
    )
    return views.peering_dialog(request, deployment, form)
