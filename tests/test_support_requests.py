"""Support requests: a customer asks support about a peering only the vendor can fix; the
Support group answers (perhaps marking the cause fixed, which offers Retry again) and closes
it in the admin. Every step is compare-and-set, audited, and shown on the customer's row."""

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import audit
from core.models import AuditEvent
from peerings import services
from peerings.apps import PeeringsConfig
from peerings.models import PeeringConnection, SupportRequest
from tests.support.factories import make_deployment, make_peering

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
QUEUE = "/admin/peerings/supportrequest/"
REASON = (
    "AWS refused a step of the set-up. Only our support team can fix this: ask support, and "
    "Retry is offered once they have."
)


def add_peering(
    deployment, n=1, status="failed", reason_code="aws_rejected", params=None, retryable=False
):
    return make_peering(
        deployment,
        status,
        n=n,
        cidr=f"172.16.{n % 250}.0/24",
        status_reason_code=reason_code,
        status_reason_params=params or {},
        retryable=retryable,
    )


@pytest.fixture
def failed(deployment):
    return add_peering(deployment)


def support_url(peering):
    return reverse("peering-support", args=[peering.deployment_id, peering.pk])


def detail_url(peering):
    return reverse("deployment-detail", args=[peering.deployment_id])


def change_url(support_request):
    return f"{QUEUE}{support_request.pk}/change/"


def row_of(page, peering):
    # One tbody per peering: its row, and the rows of its reason and steps under it.
    match = re.search(rf'<tbody id="peering-{peering.pk}".*?</tbody>', page, re.S)
    assert match, f"no row for {peering}"
    return match.group(0)


def text_of(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- 1. the services ---


def test_it_opens_a_request_carrying_the_failure_and_the_customers_words(failed, member):
    request = services.ask_support(failed, user=member, words="  We changed nothing.  ")
    assert request.state == "open"
    assert (request.failed_status, request.failure_reason) == ("failed", REASON)
    assert request.words == "We changed nothing."
    assert (request.opened_by, request.opened_by_name) == (member, "mark")
    event = AuditEvent.objects.get(action="support.requested")
    assert (event.target_type, event.target_id) == ("PeeringConnection", str(failed.pk))
    assert event.organization_id == failed.deployment.organization_id
    assert event.after["support_request"] == request.pk
    assert event.after["status_reason_code"] == "aws_rejected"


def test_the_failure_stays_as_it_was_when_asked(failed, member):
    request = services.ask_support(failed, user=member, words="")
    services.fail(failed, reason_code="setup_unavailable", retryable=True, allowed_from=["failed"])
    request.refresh_from_db()
    assert (request.failed_status, request.failure_reason) == ("failed", REASON)


def test_it_opens_a_request_for_a_peering_deleted_on_the_customers_side(deployment, member):
    peering = add_peering(
        deployment,
        status="peer_deleted",
        reason_code="deleted_by_customer",
        params={"state": "rejected"},
    )
    assert services.ask_support(peering, user=member, words="").failed_status == "peer_deleted"


@pytest.mark.parametrize("status", ["pending", "provisioning", "running", "deleting", "deleted"])
def test_it_refuses_support_for_a_peering_that_has_not_failed(deployment, member, status):
    peering = add_peering(deployment, status=status, reason_code="")
    with pytest.raises(services.SupportRefused, match=f"this one is {status}"):
        services.ask_support(peering, user=member, words="help")
    assert not SupportRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="support.requested").exists()


def test_it_refuses_words_longer_than_the_limit(failed, member):
    with pytest.raises(services.SupportRefused, match="under 2000 characters"):
        services.ask_support(failed, user=member, words="x" * 2001)
    assert not SupportRequest.objects.exists()


def test_a_second_ask_returns_the_open_request_unchanged(failed, member, owner):
    first = services.ask_support(failed, user=member, words="first")
    second = services.ask_support(failed, user=owner, words="second")
    assert second.pk == first.pk
    assert SupportRequest.objects.get().words == "first"
    assert AuditEvent.objects.filter(action="support.requested").count() == 1


def test_the_database_refuses_a_second_open_request(failed, member):
    services.ask_support(failed, user=member, words="")
    with pytest.raises(IntegrityError), transaction.atomic():
        SupportRequest.objects.create(peering=failed, failed_status="failed")


def test_a_peering_may_be_asked_about_again_once_the_last_request_was_answered(
    failed, member, support
):
    first = services.ask_support(failed, user=member, words="")
    services.answer_support_request(first, user=support, answer="Fixing it.", cause_fixed=False)
    second = services.ask_support(failed, user=member, words="Still failing")
    assert second.pk != first.pk
    assert SupportRequest.objects.filter(peering=failed).count() == 2


def test_answering_moves_open_to_answered_and_is_audited(failed, member, support):
    request = services.ask_support(failed, user=member, words="")
    with audit.acting_as(audit.actor_for_user(support, source="admin")):
        offered = services.answer_support_request(
            request, user=support, answer="  Our role lacked a permission.  ", cause_fixed=False
        )
    assert offered is False
    request.refresh_from_db()
    assert request.state == "answered"
    assert request.answer == "Our role lacked a permission."
    assert (request.answered_by, request.answered_by_name) == (support, "sam")
    assert request.answered_at is not None
    event = AuditEvent.objects.get(action="support.answered")
    assert (event.actor_id, event.source, event.by_support) == (support.pk, "admin", True)
    assert event.before == {"support_request": request.pk, "state": "open"}
    assert event.after["state"] == "answered"
    assert event.target_id == str(failed.pk)


def test_answering_is_compare_and_set(failed, member, support):
    request = services.ask_support(failed, user=member, words="")
    stale = SupportRequest.objects.get(pk=request.pk)
    services.answer_support_request(request, user=support, answer="First.", cause_fixed=False)
    with pytest.raises(services.SupportRefused, match="is answered already"):
        services.answer_support_request(stale, user=support, answer="Second.", cause_fixed=True)
    request.refresh_from_db()
    assert (request.answer, request.cause_fixed) == ("First.", False)
    assert AuditEvent.objects.filter(action="support.answered").count() == 1


def test_an_empty_answer_is_refused(failed, member, support):
    request = services.ask_support(failed, user=member, words="")
    with pytest.raises(services.SupportRefused, match="Write the answer"):
        services.answer_support_request(request, user=support, answer="  ", cause_fixed=False)
    request.refresh_from_db()
    assert request.state == "open"


def test_cause_fixed_offers_the_customers_retry_again_audited(failed, member, support):
    assert not failed.retryable
    request = services.ask_support(failed, user=member, words="")
    assert services.answer_support_request(
        request, user=support, answer="Fixed our role.", cause_fixed=True
    )
    failed.refresh_from_db()
    assert (failed.status, failed.retryable) == ("failed", True)
    event = AuditEvent.objects.get(action="peering.retry_offered")
    assert event.before == {"status": "failed", "retryable": False}
    assert event.after == {"status": "failed", "retryable": True}
    # And the customer's Retry succeeds in moving it on.
    assert services.retry_peering(failed) is True


def test_cause_fixed_offers_nothing_for_a_peering_deleted_on_the_customers_side(
    deployment, member, support
):
    peering = add_peering(deployment, status="peer_deleted")
    request = services.ask_support(peering, user=member, words="")
    assert not services.answer_support_request(
        request, user=support, answer="Create a new one.", cause_fixed=True
    )
    peering.refresh_from_db()
    assert (peering.status, peering.retryable) == ("peer_deleted", False)
    assert not AuditEvent.objects.filter(action="peering.retry_offered").exists()


def test_offering_retry_is_compare_and_set(failed):
    stale = PeeringConnection.objects.get(pk=failed.pk)
    assert services.offer_retry(failed) is True
    assert services.offer_retry(stale) is False
    assert AuditEvent.objects.filter(action="peering.retry_offered").count() == 1


@pytest.mark.parametrize("answered", [False, True])
def test_closing_is_audited_once_from_open_or_answered(failed, member, support, answered):
    request = services.ask_support(failed, user=member, words="")
    if answered:
        services.answer_support_request(request, user=support, answer="Done.", cause_fixed=False)
    services.close_support_request(request, user=support)
    request.refresh_from_db()
    assert request.state == "closed"
    assert (request.closed_by, request.closed_by_name) == (support, "sam")
    event = AuditEvent.objects.get(action="support.closed")
    assert event.before["state"] == ("answered" if answered else "open")
    with pytest.raises(services.SupportRefused, match="is closed already"):
        services.close_support_request(request, user=support)
    assert AuditEvent.objects.filter(action="support.closed").count() == 1


def test_the_database_refuses_a_state_without_its_time(failed):
    with pytest.raises(IntegrityError), transaction.atomic():
        SupportRequest.objects.create(peering=failed, failed_status="failed", state="answered")


def test_a_peering_with_a_support_request_cannot_be_deleted_from_the_database(failed, member):
    services.ask_support(failed, user=member, words="")
    with pytest.raises(IntegrityError), transaction.atomic():
        failed.delete()


def test_the_customers_audit_log_can_be_filtered_by_the_support_actions():
    labels = dict(PeeringsConfig.audit_actions)
    assert labels["support.requested"] == "Support asked"
    assert labels["support.answered"] == "Support answered"
    assert labels["support.closed"] == "Support request closed"
    assert "peering.retry_offered" in labels
    actions = {action for action, _label in audit.customer_actions()}
    assert {"support.requested", "support.answered", "support.closed"} <= actions


# --- 2. the customer's dialog ---


def test_it_shows_the_dialog_with_the_failure_and_a_box_for_the_customers_words(
    client, member, failed
):
    client.force_login(member)
    fragment = client.get(support_url(failed), **HTMX)
    assert fragment.status_code == 200
    assert fragment["Vary"] == "HX-Request" or "HX-Request" in fragment["Vary"]
    html = fragment.content.decode()
    assert "<html" not in html
    assert REASON in html
    assert "What should we know? (optional)" in html
    assert "<textarea" in html
    assert ">Ask support</button>" in html
    page = client.get(support_url(failed)).content.decode()  # without JavaScript
    assert "<html" in page and ">Ask support</button>" in page


def test_asking_with_htmx_answers_with_the_row_and_closes_the_dialog(client, member, failed):
    client.force_login(member)
    response = client.post(support_url(failed), {"words": "Please look"}, **HTMX)
    assert response.status_code == 200
    assert "closeDialog" in json.loads(response["HX-Trigger"])
    assert response["HX-Retarget"] == f"#peering-{failed.pk}"
    assert response["HX-Reswap"] == "outerHTML"
    today = timezone.localdate().strftime("%Y-%m-%d")
    row = text_of(row_of(response.content.decode(), failed))
    assert f"Support asked on {today} · open" in row
    assert "Ask support" not in row  # one open request at a time
    request = SupportRequest.objects.get()
    assert (request.words, request.opened_by) == ("Please look", member)
    assert AuditEvent.objects.get(action="support.requested").actor_id == member.pk


def test_asking_without_javascript_redirects_with_a_message(client, owner, failed):
    client.force_login(owner)
    response = client.post(support_url(failed), {"words": ""})
    assert response.status_code == 302
    assert response["Location"] == f"{detail_url(failed)}#peering-{failed.pk}"
    page = client.get(response["Location"]).content.decode()
    assert f"Support has your request about {failed.peering_id}" in page
    assert SupportRequest.objects.get().opened_by == owner


def test_the_dialog_says_an_open_request_is_waiting_instead_of_asking_again(client, member, failed):
    services.ask_support(failed, user=member, words="")
    client.force_login(member)
    html = client.get(support_url(failed), **HTMX).content.decode()
    assert 'id="support-open"' in html
    assert "<textarea" not in html


def test_the_dialog_refuses_a_peering_that_has_not_failed(client, member, deployment):
    running = add_peering(deployment, status="running", reason_code="")
    client.force_login(member)
    html = client.post(support_url(running), {"words": "hi"}, **HTMX).content.decode()
    assert "this one is running" in html
    assert not SupportRequest.objects.exists()


def test_words_over_the_limit_are_refused_by_the_field(client, member, failed):
    client.force_login(member)
    response = client.post(support_url(failed), {"words": "x" * 2001}, **HTMX)
    assert response.status_code == 200  # htmx swaps it into the dialog
    assert 'id="errors-words"' in response.content.decode()
    assert not SupportRequest.objects.exists()


def test_a_viewer_may_not_ask(client, viewer, failed):
    client.force_login(viewer)
    assert client.get(support_url(failed)).status_code == 403
    assert client.post(support_url(failed), {"words": "x"}).status_code == 403
    assert not SupportRequest.objects.exists()
    row = row_of(client.get(detail_url(failed)).content.decode(), failed)
    assert "Ask support" not in row


def test_an_outsider_gets_404(client, outsider, failed):
    client.force_login(outsider)
    assert client.get(support_url(failed)).status_code == 404
    assert client.post(support_url(failed), {"words": "x"}).status_code == 404
    assert not SupportRequest.objects.exists()


def test_the_route_refuses_other_methods(client, member, failed):
    client.force_login(member)
    assert client.put(support_url(failed)).status_code == 405


# --- 3. the state on the customer's row ---


def page_row(client, peering):
    return row_of(client.get(detail_url(peering)).content.decode(), peering)


def test_the_row_offers_ask_support_only_where_it_can_be_asked(client, member, deployment):
    failed = add_peering(deployment, 1)
    gone = add_peering(deployment, 2, status="peer_deleted")
    running = add_peering(deployment, 3, status="running", reason_code="")
    client.force_login(member)
    page = client.get(detail_url(failed)).content.decode()
    for peering in (failed, gone):
        assert f'href="{support_url(peering)}"' in row_of(page, peering)
    assert "Ask support" not in row_of(page, running)


def test_the_row_shows_each_state_of_the_latest_request(client, member, support, failed):
    client.force_login(member)
    request = services.ask_support(failed, user=member, words="")
    assert "· open" in text_of(page_row(client, failed))
    services.answer_support_request(
        request, user=support, answer="We fixed our IAM role.", cause_fixed=False
    )
    row = text_of(page_row(client, failed))
    assert "Support answered: We fixed our IAM role." in row
    assert "Ask support" in row  # answered, still failing: it may be asked again
    services.close_support_request(request, user=support)
    assert "closed" in text_of(page_row(client, failed))


def test_retry_is_offered_on_the_row_once_support_marked_the_cause_fixed(
    client, member, support, failed
):
    client.force_login(member)
    request = services.ask_support(failed, user=member, words="")
    assert ">Retry</button>" not in page_row(client, failed)
    services.answer_support_request(request, user=support, answer="Fixed.", cause_fixed=True)
    assert ">Retry</button>" in page_row(client, failed)


def test_supports_answer_is_shown_escaped(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    services.answer_support_request(
        request, user=support, answer="<img src=x onerror=alert(1)>", cause_fixed=False
    )
    client.force_login(member)
    row = page_row(client, failed)
    assert "<img src=x" not in row
    assert "&lt;img src=x onerror=alert(1)&gt;" in row


def test_the_deployment_page_runs_a_fixed_number_of_queries_with_support_requests(
    client, member, support, deployment
):
    def add(start, count):
        for n in range(start, start + count):
            peering = add_peering(deployment, n)
            request = services.ask_support(peering, user=member, words=f"help {n}")
            if n % 2:
                services.answer_support_request(
                    request, user=support, answer=f"answer {n}", cause_fixed=False
                )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(detail_url(peering_zero))
        assert response.status_code == 200
        return len(captured), response.content.decode().count("data-support-state=")

    client.force_login(member)
    add(1, 1)
    peering_zero = PeeringConnection.objects.get()
    few, shown = queries()
    assert shown == 1
    add(2, 19)
    many, shown = queries()
    assert shown == 20
    assert few == many


# --- 4. the Support group's queue in the admin ---


def test_the_support_group_may_view_and_answer_requests_but_not_add_or_delete(support):
    assert support.has_perm("peerings.view_supportrequest")
    assert support.has_perm("peerings.change_supportrequest")
    assert not support.has_perm("peerings.add_supportrequest")
    assert not support.has_perm("peerings.delete_supportrequest")


def test_the_queue_lists_open_requests_first_with_organization_peering_failure_and_age(
    client, member, support, deployment
):
    first, second, third = (add_peering(deployment, n) for n in (1, 2, 3))
    answered = services.ask_support(first, user=member, words="")
    services.answer_support_request(answered, user=support, answer="a", cause_fixed=False)
    closed = services.ask_support(second, user=member, words="")
    services.close_support_request(closed, user=support)
    waiting = services.ask_support(third, user=member, words="")
    client.force_login(support)
    response = client.get(QUEUE)
    assert list(response.context["cl"].result_list) == [waiting, answered, closed]
    page = response.content.decode()
    for text in ("Acme", third.peering_id, REASON, "State", "Age", "Organization", "Failure"):
        assert text in page
    assert [
        r.state for r in client.get(QUEUE, {"state__exact": "open"}).context["cl"].result_list
    ] == ["open"]


def test_the_queue_runs_a_fixed_number_of_queries(client, member, support, organization):
    def add(start, count):
        for n in range(start, start + count):
            deployment = make_deployment(organization, name=f"d{n}", vpc_id=f"vpc-{n:017x}")
            services.ask_support(add_peering(deployment, n), user=member, words="")

    def queries():
        client.get(QUEUE)  # warm per-process caches before counting
        with CaptureQueriesContext(connection) as captured:
            response = client.get(QUEUE)
        return len(captured), len(response.context["cl"].result_list)

    client.force_login(support)
    add(1, 1)
    few, rows = queries()
    assert rows == 1
    add(2, 19)
    many, rows = queries()
    assert rows == 20
    assert few == many


def test_support_answers_on_the_change_page_through_the_service(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="<b>bold</b> words")
    client.force_login(support)
    page = client.get(change_url(request)).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; words" in page  # the customer's words, escaped
    assert 'name="answer"' in page and 'name="cause_fixed"' in page
    assert 'value="Send answer"' in page and 'value="Close request"' in page
    response = client.post(
        change_url(request), {"answer": "We fixed our role.", "cause_fixed": "on", "_save": "1"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    request.refresh_from_db()
    assert (request.state, request.answer, request.cause_fixed) == (
        "answered",
        "We fixed our role.",
        True,
    )
    failed.refresh_from_db()
    assert failed.retryable is True
    answered = AuditEvent.objects.get(action="support.answered")
    assert (answered.actor_id, answered.source) == (support.pk, "admin")
    assert AuditEvent.objects.get(action="peering.retry_offered").actor_id == support.pk
    # One record of the change, the service's: no generic admin.* event besides it.
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
    assert LogEntry.objects.filter(object_id=str(request.pk)).exists()  # Django's history
    listing = client.get(response["Location"]).content.decode()
    assert "Retry is offered again" in listing


def test_an_empty_answer_is_refused_on_the_change_page(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    client.force_login(support)
    response = client.post(change_url(request), {"answer": " ", "_save": "1"})
    assert response.status_code == 200
    assert "Write the answer the customer will read." in response.content.decode()
    request.refresh_from_db()
    assert request.state == "open"


def test_an_answer_sent_after_a_colleagues_saves_nothing(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    client.force_login(support)
    assert 'name="answer"' in client.get(change_url(request)).content.decode()
    # A colleague answers while this page is open.
    services.answer_support_request(request, user=support, answer="Colleague's.", cause_fixed=False)
    response = client.post(change_url(request), {"answer": "Mine.", "_save": "1"})
    assert response.status_code == 302
    assert "Nothing was saved" in client.get(response["Location"]).content.decode()
    request.refresh_from_db()
    assert request.answer == "Colleague's."
    assert AuditEvent.objects.filter(action="support.answered").count() == 1


def test_the_other_fields_of_a_request_cannot_be_changed_in_the_admin(
    client, member, support, failed
):
    request = services.ask_support(failed, user=member, words="mine")
    client.force_login(support)
    client.post(
        change_url(request),
        {"answer": "ok", "words": "rewritten", "failed_status": "running", "_save": "1"},
    )
    request.refresh_from_db()
    assert (request.words, request.failed_status) == ("mine", "failed")


def test_support_closes_a_request_with_the_close_button(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    client.force_login(support)
    response = client.post(change_url(request), {"answer": "", "_close": "1"})
    assert response.status_code == 302
    assert response["Location"] == QUEUE
    request.refresh_from_db()
    assert request.state == "closed"
    closed = AuditEvent.objects.get(action="support.closed")
    assert (closed.actor_id, closed.source) == (support.pk, "admin")
    page = client.get(change_url(request)).content.decode()
    assert 'value="Send answer"' not in page and 'value="Close request"' not in page
    assert client.post(change_url(request), {"_close": "1"}).status_code == 403
    assert AuditEvent.objects.filter(action="support.closed").count() == 1


def test_an_answered_request_can_be_closed_but_not_answered_again(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    services.answer_support_request(request, user=support, answer="Done.", cause_fixed=False)
    client.force_login(support)
    page = client.get(change_url(request)).content.decode()
    assert 'name="answer"' not in page
    assert 'value="Send answer"' not in page and 'value="Close request"' in page


def test_staff_without_the_permission_can_neither_answer_nor_close(
    client, member, failed, django_user_model
):
    request = services.ask_support(failed, user=member, words="")
    staff = django_user_model.objects.create_user("vic", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_supportrequest"))
    client.force_login(staff)
    assert 'value="Close request"' not in client.get(change_url(request)).content.decode()
    assert client.post(change_url(request), {"answer": "x", "_save": "1"}).status_code == 403
    assert client.post(change_url(request), {"_close": "1"}).status_code == 403
    request.refresh_from_db()
    assert request.state == "open"


def test_support_can_neither_add_nor_delete_requests(client, member, support, failed):
    request = services.ask_support(failed, user=member, words="")
    client.force_login(support)
    assert client.get(f"{QUEUE}add/").status_code == 403
    assert (
        client.post(f"{change_url(request)[: -len('change/')]}delete/", {"post": "yes"}).status_code
        == 403
    )
    assert SupportRequest.objects.filter(pk=request.pk).exists()


def test_the_route_is_in_the_security_sweeps():
    from tests.support.routes import scoped_routes

    assert ("peering-support", ("pk", "peering_pk")) in scoped_routes()


def test_asking_about_a_failure_that_moved_on_meanwhile_is_refused(deployment, owner):
    peering = make_peering(deployment, "failed", status_reason_code="aws_rejected")
    # Retried in another browser after this page loaded the row.
    PeeringConnection.objects.filter(pk=peering.pk).update(status="pending", status_reason_code="")
    with pytest.raises(services.SupportRefused):
        services.ask_support(peering, user=owner, words="")
    assert not SupportRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="support.requested").exists()
