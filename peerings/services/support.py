"""Support requests: a customer asks the vendor's support about a peering only the vendor
can fix; support answers (and may say the cause is fixed, which offers the customer's Retry
again) and closes it. Each step is compare-and-set on the request's state, and audited
against the peering, so that the peering's trail tells the whole story."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit
from peerings.models import PeeringConnection, SupportRequest

State = SupportRequest.State

# A peering's reason as a support request copies it.
REASON_FIELDS = ("status_reason_code", "status_reason_params", "status_reason_text")


class SupportRefused(Exception):
    """The step cannot be taken; `str()` says why, in words for whoever asked."""


def ask_support_refusal(peering: PeeringConnection) -> str | None:
    """Why support cannot be asked about this peering (None: it can)."""
    if peering.status not in PeeringConnection.SUPPORT_ASKABLE:
        return _(
            "Support can be asked about a failed peering, or one deleted on your side; "
            "this one is %(status)s."
        ) % {"status": peering.status}
    return None


def ask_support(peering: PeeringConnection, *, user: User | None, words: str) -> SupportRequest:
    """Open a support request about the peering's failure as it is now. A peering already
    waiting on support keeps its open request: asking again (a second click, a second
    browser) returns that one, unchanged."""
    refusal = ask_support_refusal(peering)
    if refusal:
        raise SupportRefused(refusal)
    words = words.strip()
    if len(words) > SupportRequest.WORDS_MAX_LENGTH:
        raise SupportRefused(
            _("Please keep it under %(limit)s characters (this is %(length)s).")
            % {"limit": SupportRequest.WORDS_MAX_LENGTH, "length": len(words)}
        )
    opened_by, opened_by_name = _who(user)
    try:
        with transaction.atomic():
            # The failure as it is now, not as the page loaded it: a Retry or a delete may
            # have moved the peering on meanwhile (the row is locked until the request is
            # saved, so it cannot move between this read and the insert).
            current = (
                PeeringConnection.objects.select_for_update()
                .filter(pk=peering.pk)
                .values("status", *REASON_FIELDS)
                .first()
            )
            if current is None or current["status"] not in PeeringConnection.SUPPORT_ASKABLE:
                raise SupportRefused(
                    _("%(peering_id)s changed meanwhile; reload the page to see it.")
                    % {"peering_id": peering.peering_id}
                )
            for name, value in current.items():
                setattr(peering, name, value)
            request = SupportRequest.objects.create(
                peering=peering,
                failed_status=peering.status,
                failure_reason_code=peering.status_reason_code,
                failure_reason_params=peering.status_reason_params,
                failure_reason_text=peering.status_reason_text,
                words=words,
                opened_by=opened_by,
                opened_by_name=opened_by_name,
            )
            audit.record(
                "support.requested",
                target=peering,
                after={
                    "support_request": request.pk,
                    "state": request.state,
                    "status": request.failed_status,
                    "status_reason_code": request.failure_reason_code,
                    "status_reason_params": request.failure_reason_params,
                    **(
                        {"status_reason": request.failure_reason_text}
                        if request.failure_reason_text
                        else {}
                    ),
                    "words": words,
                },
            )
    except IntegrityError:
        # The constraint kept the request that got there first (unless support has answered
        # it in the meantime too).
        first = SupportRequest.objects.filter(peering=peering, state=State.OPEN).first()
        if first is None:
            raise SupportRefused(
                _("Support's request about %(peering_id)s changed meanwhile; reload the page.")
                % {"peering_id": peering.peering_id}
            ) from None
        return first
    return request


def answer_support_request(
    request: SupportRequest,
    *,
    user: User | None,
    answer: str,
    cause_fixed: bool,
) -> bool:
    """open → answered, with support's answer. With `cause_fixed`, a failed peering that
    could not be retried is offered for Retry again. Returns whether Retry was offered."""
    answer = answer.strip()
    if not answer:
        raise SupportRefused(_("Write the answer the customer will read."))
    answered_by, answered_by_name = _who(user)
    with transaction.atomic():
        won = SupportRequest.objects.filter(pk=request.pk, state=State.OPEN).update(
            state=State.ANSWERED,
            answer=answer,
            cause_fixed=cause_fixed,
            answered_by=answered_by,
            answered_by_name=answered_by_name,
            answered_at=timezone.now(),
        )
        if not won:
            raise SupportRefused(_moved_on(request))
        request.refresh_from_db()
        audit.record(
            "support.answered",
            target=request.peering,
            before={"support_request": request.pk, "state": State.OPEN},
            after={
                "support_request": request.pk,
                "state": request.state,
                "answer": answer,
                "cause_fixed": cause_fixed,
            },
        )
        return cause_fixed and offer_retry(request.peering)


def offer_retry(peering: PeeringConnection) -> bool:
    """Support fixed what made a failed peering unretryable: the customer's Retry is offered
    again. False when the peering is not failed-and-unretryable (any longer)."""
    with transaction.atomic():
        if not peering.offer_retry():
            return False
        audit.record(
            "peering.retry_offered",
            target=peering,
            before={"status": peering.status, "retryable": False},
            after={"status": peering.status, "retryable": True},
        )
    return True


def close_support_request(request: SupportRequest, *, user: User | None) -> None:
    """open or answered → closed: nothing more to do on it. (An open request may be closed
    unanswered: the customer retried meanwhile, or deleted the peering.)"""
    closed_by, closed_by_name = _who(user)
    with transaction.atomic():
        # One compare-and-set per state it may leave, so that the record says which.
        for before in (State.OPEN, State.ANSWERED):
            if SupportRequest.objects.filter(pk=request.pk, state=before).update(
                state=State.CLOSED,
                closed_by=closed_by,
                closed_by_name=closed_by_name,
                closed_at=timezone.now(),
            ):
                break
        else:
            raise SupportRefused(_moved_on(request))
        request.refresh_from_db()
        audit.record(
            "support.closed",
            target=request.peering,
            before={"support_request": request.pk, "state": before},
            after={"support_request": request.pk, "state": request.state},
        )


def _who(user: User | None) -> tuple[User | None, str]:
    """The account and its name as it is now (the name outlives a renamed account)."""
    if user is None or not user.is_authenticated:
        return None, ""
    return user, user.get_username()


def _moved_on(request: SupportRequest) -> str:
    now = SupportRequest.objects.filter(pk=request.pk).values_list("state", flat=True).first()
    return _(
        "%(request)s is %(state)s already: someone else acted on it meanwhile. Reload the page."
    ) % {"request": request, "state": now}
