"""The `API keys` page: an organization's owners list, create and revoke its keys."""

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from api import access, keys
from api.forms import ApiKeyForm
from api.models import ApiKey
from core.models import Membership


@login_required
@require_GET
def key_list(request):
    """Each organization of the user; the keys only where they are an owner. Two
    queries, whatever the number of keys."""
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    )
    owned = [m.organization_id for m in memberships if m.role == Membership.Role.OWNER]
    by_organization = defaultdict(list)
    for key in ApiKey.objects.filter(organization_id__in=owned).select_related("created_by"):
        by_organization[key.organization_id].append(key)
    sections = [
        {
            "organization": m.organization,
            "is_owner": m.organization_id in owned,
            "keys": by_organization[m.organization_id],
        }
        for m in memberships
    ]
    return render(request, "api/key_list.html", {"sections": sections})


@login_required
@require_http_methods(["GET", "POST"])
def key_new(request, organization_pk):
    organization = access.organization_for_owner(request, organization_pk)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, secret = keys.create_key(
            organization,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            expires_at=form.expires_at(),
            user=request.user,
        )
        # The one response that contains the secret: never stored, never cached.
        response = render(request, "api/key_secret.html", {"key": key, "secret": secret})
        add_never_cache_headers(response)
        return response
    return render(request, "api/key_form.html", {"form": form, "organization": organization})


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(request, key_pk):
    """GET asks for confirmation; POST revokes."""
    key = access.key_for_owner(request, key_pk)
    if request.method == "POST":
        if keys.revoke_key(key):
            messages.success(
                request, _("API key %(name)s revoked: it no longer works.") % {"name": key.name}
            )
        return redirect("api-key-list")
    return render(request, "api/key_revoke.html", {"key": key})
