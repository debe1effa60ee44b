from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from peerings import access
from peerings.models import PeeringConnection


@login_required
@require_GET
def deployment_list(request):
    deployments = access.deployments_visible_to(request.user).select_related("organization")
    return render(request, "deployment_list.html", {"deployments": deployments})


@login_required
@require_GET
def deployment_detail(request, pk):
    deployment = access.deployment_for(request, pk)
    return render(request, "deployment_detail.html", _detail_context(deployment))


def _detail_context(deployment):
    peerings = deployment.peerings.exclude(status=PeeringConnection.Status.DELETED)
    resources = deployment.resources.select_related("peering")
    return {
        "deployment": deployment,
        "peerings": peerings,
        "resources": resources,
        "can_act": deployment.membership.can_act,
    }
