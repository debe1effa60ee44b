"""How the admin shows a peering, on its own pages and on the support requests' queue."""

from django.urls import reverse
from django.utils.html import format_html

from peerings.models import PeeringConnection


def status_badge(status: str) -> str:
    return format_html('<span class="status-badge status-{}">{}</span>', status, status)


def change_url(peering: PeeringConnection) -> str:
    return reverse("admin:peerings_peeringconnection_change", args=[peering.pk])
