"""The peerings app's rows that must always exist (see core.bootstrap):

- the Support group's grants here: view deployments, peerings and resources, run Retry and
  Re-sync from AWS, answer and close support requests (through the services), change and
  delete nothing else;
- the django-q2 schedule that reconciles peerings with AWS every few minutes."""

from core.bootstrap import every_few_minutes

# (app, model, codename, name)
SUPPORT_PERMISSIONS = [
    ("peerings", "deployment", "view_deployment", "Can view deployment"),
    ("peerings", "peeringconnection", "view_peeringconnection", "Can view peering connection"),
    ("peerings", "resource", "view_resource", "Can view resource"),
    ("peerings", "peeringconnection", "retry_peering", "Can retry a failed peering"),
    ("peerings", "peeringconnection", "resync_peering", "Can re-sync a peering from AWS"),
    ("peerings", "supportrequest", "view_supportrequest", "Can view support request"),
    # Its admin changes nothing but the answer and the state, through the services.
    ("peerings", "supportrequest", "change_supportrequest", "Can change support request"),
]

RECONCILE_SCHEDULE = "Reconcile peerings with AWS"


def ensure_reconcile_schedule(schedule_model):
    return every_few_minutes(
        schedule_model, RECONCILE_SCHEDULE, "peerings.tasks.reconcile_peerings"
    )
