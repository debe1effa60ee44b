"""Every stored fact the portal says in words: why a peering failed, why a request was
refused, what an audit event was about. A row stores a code and its parameters, never the
sentence, and the sentence is made when the row is shown, in the reader's language: the same
failed peering reads in Chinese to the customer and in English to support.

This is the one place the codes live. A code is short, stable snake_case: receivers of our
webhooks and the API's clients branch on it, so a code is never renamed or reused (add a new
one instead), while its words may change at any time. Messages take named placeholders
(%(name)s) so that a translation may put them in any order.

A parameter may itself be a reason ({"code": ..., "params": ...}, see `Reason.as_param`),
rendered in the same language; `more` holds further reasons, said after the first (a
request may be wrong in several ways at once). Here in core, not in an app: the audit log
(core) and every app render through it, and core imports no app."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

ASK_SUPPORT = _(
    "Only our support team can fix this: ask support, and Retry is offered once they have."
)

MESSAGES = {
    # --- the create dialog's checks (also the worker's, when it checks again) ---
    "peering_id_in_use": _("%(peering_id)s is already in use by a VPC peering in this portal."),
    "vpc_already_peered": _(
        "%(vpc_id)s is already peered with this deployment (%(other_peering_id)s, "
        "%(other_status)s). Delete that peering first to replace it."
    ),
    "request_not_found": _(
        "No VPC peering connection %(peering_id)s exists in %(region)s, the deployment's "
        "region, for account %(account_id)s. Check the ID, and that you created the request "
        "in %(region)s with the peer account and VPC shown above."
    ),
    "request_already_accepted": _(
        "%(peering_id)s has already been accepted (it is %(state)s). Create a new request for "
        "this deployment."
    ),
    "request_expired": _(
        "%(peering_id)s has expired: AWS drops requests not accepted within 7 days. Create a "
        "new request."
    ),
    "request_rejected": _("%(peering_id)s was rejected. Create a new request."),
    "request_deleted": _("%(peering_id)s has been deleted in AWS. Create a new request."),
    "request_failed_in_aws": _("%(peering_id)s failed in AWS. Create a new request."),
    "request_failed_in_aws_saying": _(
        "%(peering_id)s failed in AWS. AWS says: %(aws_message)s. Create a new request."
    ),
    "request_not_waiting": _(
        "%(peering_id)s is %(state)s, not waiting for acceptance. Wait a moment and confirm again."
    ),
    "request_state_unknown": _(
        "%(peering_id)s is in an unknown state, not waiting for acceptance. Wait a moment and "
        "confirm again."
    ),
    "wrong_region": _(
        "The request comes from a VPC in %(requester_region)s. VPC peering is only available "
        "within the same region: create it from a VPC in %(region)s."
    ),
    "wrong_account": _(
        "The request in AWS comes from account %(requester_account_id)s, not %(account_id)s "
        "that you entered."
    ),
    "wrong_vpc": _(
        "The request in AWS comes from VPC %(requester_vpc_id)s, not %(vpc_id)s that you entered."
    ),
    "no_cidr": _("AWS did not report any IPv4 CIDR for your VPC."),
    "cidr_reserved": _(
        "Your VPC uses %(cidr)s, which overlaps %(reserved)s: %(vendor)s reserves that range. "
        "Peer from a VPC outside %(reserved_all)s."
    ),
    "cidr_overlap": _(
        "Your VPC uses %(cidr)s, which overlaps the deployment's CIDR %(deployment_cidr)s. "
        "Traffic could not be routed; peer from a VPC with a different range."
    ),
    "cidr_overlaps_peering": _(
        "Your VPC uses %(cidr)s, which overlaps %(other_cidr)s of the deployment's existing "
        "peering %(other_peering_id)s."
    ),
    "cidr_routed_elsewhere": _(
        "Your VPC uses %(cidr)s, which the deployment's network already routes somewhere "
        "else: traffic could not reach you through this peering. Peer from a VPC with another "
        "range, or contact our support team."
    ),
    "no_room_rules": _(
        "This deployment has no room for another VPC peering: its security group would need "
        "%(rules)s rules (%(cidrs)s customer CIDRs × %(ports)s service ports), over AWS's "
        "limit of %(limit)s."
    ),
    "no_room_routes": _(
        "This deployment has no room for another VPC peering: its route tables would need "
        "%(routes)s routes to customer CIDRs, over AWS's limit of %(limit)s beside the local "
        "route."
    ),
    "no_room_advice": _(
        "Delete a peering you no longer use, or ask our support team to raise the limit."
    ),
    "plan_not_allowed": _("VPC peering is not available on the %(plan)s plan."),
    "created_meanwhile": _("This peering was just created by someone else. Reload the page."),
    # --- why the worker failed a peering ---
    "peering_not_active": _(
        "AWS reports the peering connection as %(state)s: %(aws_message)s. Create a new "
        "request and delete this peering."
    ),
    "route_conflict": _(
        "The deployment's network already sends %(cidr)s somewhere else, so traffic could "
        "not reach your VPC through this peering. %(ask_support)s"
    ),
    "quota_rules": _(
        "The deployment's security group has reached AWS's limit of rules (60 by default), "
        "so no more VPC peerings fit. Ask our support team to raise the limit (Retry is "
        "offered once they have), or delete a peering you no longer use."
    ),
    "quota_routes": _(
        "The deployment's route table has reached AWS's limit of routes (50 by default), so "
        "no more VPC peerings fit. Ask our support team to raise the limit (Retry is offered "
        "once they have), or delete a peering you no longer use."
    ),
    "quota_peerings": _(
        "The deployment's VPC has reached AWS's limit of active VPC peerings. Ask our support "
        "team to raise the limit (Retry is offered once they have), or delete a peering you "
        "no longer use."
    ),
    "aws_rejected": _("AWS refused a step of the set-up. %(ask_support)s"),
    "setup_misconfigured": _(
        "The set-up stopped: the portal's own AWS set-up has a problem, and our support team "
        "has been alerted. Nothing is lost: press Retry once it is fixed."
    ),
    # "about half an hour": the worker's retry rounds (peerings.queue.retry_delay, ten
    # of them, MAX_UNAVAILABLE_ROUNDS); tests/test_reasons.py holds the two together.
    "setup_unavailable": _(
        "AWS did not answer for about half an hour, so the set-up stopped. Nothing is lost: "
        "press Retry."
    ),
    # --- deleting ---
    "delete_unavailable": _(
        "Deleting stopped because AWS did not complete a step (no answer for about half an "
        "hour). Nothing is left half-done that a second try cannot finish: press Delete "
        "again."
    ),
    "delete_refused": _(
        "Deleting stopped because AWS did not complete a step (%(aws_code)s). Nothing is left "
        "half-done that a second try cannot finish: press Delete again."
    ),
    # --- reconcile ---
    "deleted_by_customer": _(
        "The peering connection is %(state)s in AWS: it was deleted, rejected or expired on "
        "your side. Resources using it cannot be reached; create a new peering and move them."
    ),
    "finding_peer_deleted": _(
        "AWS has the connection %(state)s; marked peer_deleted and removed our routes and rules."
    ),
    "finding_route_added": _(
        "Route %(cidr)s → %(peering_id)s in %(route_table_id)s was missing; added."
    ),
    "finding_ingress_added": _("Ingress from %(cidr)s on port %(port)s was missing; added."),
    "why_misconfigured": _(
        "the portal's own AWS set-up has a problem (%(aws_code)s); we have been alerted"
    ),
    "why_unavailable": _("AWS did not answer (%(aws_code)s)"),
    "why_route_conflict": _(
        "the deployment's route table %(route_table_id)s already sends %(cidr)s somewhere else"
    ),
    "why_refused": _("AWS refused (%(aws_code)s); the details are in our log"),
    "resync_failed_queued": _("%(why)s; the next scheduled reconcile checks this peering again."),
    "reconcile_unrepaired": _("Reconcile could not repair this peering: %(why)s."),
    "requeued": _("%(status)s for too long; its task was queued again."),
    # --- the demo's simulator ---
    "demo_simulator_restarted": _(
        "The demo AWS simulator was restarted; this peering no longer exists there."
    ),
    # --- audit messages of the platform ---
    "login_failed": _("Failed login for %(username)s"),
    "login_locked": _(
        "Login locked for %(username)s from %(ip)s after %(limit)s failed attempts within "
        "%(minutes)s minutes"
    ),
    "login_locked_username": _(
        "Login locked for %(username)s from any address after %(limit)s failed attempts within "
        "%(minutes)s minutes"
    ),
    "login_locked_address": _(
        "Logins from %(ip)s locked after %(limit)s failed attempts within %(minutes)s minutes "
        "(last username tried: %(username)s)"
    ),
    "webhook_secret_overlap": _(
        "Signing secret replaced; the previous one also signs until %(until)s UTC."
    ),
    "webhook_secret_replaced": _("Signing secret replaced; the previous one no longer signs."),
    # --- where a webhook may go (an owner's URL, checked again before every attempt) ---
    "url_invalid": _("This is not a valid URL; check the brackets around an IPv6 address."),
    "url_scheme_http_allowed": _(
        "Webhook URLs must start with https:// (or http://, allowed here)."
    ),
    "url_scheme": _("Webhook URLs must start with https://."),
    "url_no_host": _("The URL has no host name."),
    "url_credentials": _(
        "Put no user name or password in the URL: the signature on each request tells you it "
        "comes from us."
    ),
    "url_bad_port": _("The port must be a number from 1 to 65535."),
    "address_not_public": _(
        "%(address)s is %(problem)s. Webhooks are only sent to public internet addresses."
    ),
    "host_not_public": _(
        "%(host)s resolves to %(address)s, %(problem)s. Webhooks are only sent to public "
        "internet addresses."
    ),
    "host_unresolvable": _("%(host)s could not be resolved (%(error)s)."),
    "host_no_address": _("%(host)s has no address."),
    # the `problem` of the two above
    "address_metadata": _("the cloud metadata address"),
    "address_unspecified": _("the unspecified address"),
    "address_loopback": _("a loopback address"),
    "address_link_local": _("a link-local address"),
    "address_multicast": _("a multicast address"),
    "address_reserved": _("a reserved address"),
    "address_private": _("a private address"),
    "address_not_global": _("not a public address"),
    # --- why a webhook delivery attempt failed (the endpoint's owner reads it) ---
    "webhook_not_sent": _("Not sent: %(why)s"),
    "webhook_no_answer": _("No answer within %(seconds)s s (%(exception)s)."),
    "webhook_network_error": _("Network error: %(error)s."),
    "webhook_cut_off": _(
        "No complete answer within %(seconds)s s (WEBHOOK_DEADLINE): the connection was cut."
    ),
    "webhook_redirect": _(
        "The endpoint answered %(status_code)s and redirects to %(location)s. Webhooks do not "
        "follow redirects: enter the final URL."
    ),
    "webhook_redirect_nowhere": _(
        "The endpoint answered %(status_code)s, a redirect without a Location header. "
        "Webhooks do not follow redirects: enter the final URL."
    ),
    "webhook_refused": _("The endpoint answered %(status_code)s %(reason_phrase)s."),
    "webhook_refused_saying": _(
        "The endpoint answered %(status_code)s %(reason_phrase)s. It said: %(excerpt)s"
    ),
    "webhook_attempt_lost": _(
        "No outcome recorded: the worker making this attempt stopped before it finished. The "
        "endpoint may have received it; the event ID (Webhook-Id header) lets it drop the "
        "duplicate."
    ),
}


class UnknownReason(ValueError):
    """A code that is not in MESSAGES: a mistake in the calling code."""


@dataclass(frozen=True)
class Reason:
    """A code and its parameters (plain JSON values, or other reasons' `as_param()`):
    what is stored. `str()` renders it in the active language, every time it is called."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.code)

    def __str__(self) -> str:
        return render(self.code, self.params)

    def as_param(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    @property
    def text(self) -> str:
        """Rendered when used, not now: for a form's error or a message made before the
        language of whoever reads it is known."""
        return _lazy_render(self.code, dict(self.params))

    def following(self, others: list["Reason"]) -> "Reason":
        """This reason with `others` said after it (in `more`)."""
        if not others:
            return self
        return Reason(self.code, {**self.params, "more": [o.as_param() for o in others]})


def check(code: str) -> str:
    if code not in MESSAGES:
        raise UnknownReason(f"No reason code {code!r} in core/reasons.py.")
    return code


def render(code: str, params: Mapping[str, Any] | None = None, *, fallback: str = "") -> str:
    """The message of `code` in the active language, with its parameters; `fallback` (a
    row's English text from before the codes) when there is no code or an unknown one."""
    message = MESSAGES.get(code or "")
    if message is None:
        return fallback
    params = dict(params or {})
    more = params.pop("more", [])
    values = {"vendor": settings.VENDOR_NAME, "ask_support": ASK_SUPPORT}
    values.update({name: _value(value) for name, value in params.items()})
    try:
        text = str(message) % values
    except (KeyError, TypeError, ValueError):
        # A translation whose placeholders do not match, or a parameter missing: say it in
        # English, or as it is, rather than fail the page.
        with translation.override(None):
            try:
                text = str(message) % values
            except (KeyError, TypeError, ValueError):
                text = str(message)
    return " ".join([text, *(_value(other) for other in more)])


def english(code: str, params: Mapping[str, Any] | None = None, *, fallback: str = "") -> str:
    """For readers whose language we do not know (a webhook receiver): English."""
    with translation.override("en"):
        return render(code, params, fallback=fallback)


def _value(value: Any) -> Any:
    if isinstance(value, Mapping) and "code" in value:
        return render(value["code"], value.get("params"), fallback=value.get("code", ""))
    return value


_lazy_render = lazy(render, str)
