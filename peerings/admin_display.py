"""How the admin shows a peering, on its own pages and on the support requests' queue."""

from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import pgettext_lazy

from peerings.models import PeeringConnection

# The status word support reads on a badge: the status itself in English (what the
# filters, the audit log and the API say), in the reader's language otherwise.
STATUS_WORDS = {
    "pending": pgettext_lazy("peering status", "pending"),
    "provisioning": pgettext_lazy("peering status", "provisioning"),
    "running": pgettext_lazy("peering status", "running"),
    "failed": pgettext_lazy("peering status", "failed"),
    "deleting": pgettext_lazy("peering status", "deleting"),
    "deleted": pgettext_lazy("peering status", "deleted"),
    "peer_deleted": pgettext_lazy("peering status", "peer_deleted"),
}


def status_word(status: str) -> str:
    return str(STATUS_WORDS.get(status, status))


def status_badge(status: str) -> str:
    return format_html(
        '<span class="status-badge status-{}">{}</span>', status, status_word(status)
    )


def change_url(peering: PeeringConnection) -> str:
    return reverse("admin:peerings_peeringconnection_change", args=[peering.pk])
