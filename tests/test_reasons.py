"""Stored facts are codes with parameters, rendered when shown in the reader's language: a
failure reason, a refusal, an audit message. Old rows keep their English text as the
fallback, and old audit events are never rewritten."""

import ast
import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from core import audit, reasons
from core.models import AuditEvent
from core.reasons import Reason
from peerings import services
from peerings.forms import PeeringForm
from peerings.models import PeeringConnection
from peerings.services import checks
from tests.support.audit import behind_the_models_back
from tests.support.factories import make_peering
from tests.support.i18n import translated

pytestmark = pytest.mark.django_db

Status = PeeringConnection.Status
ROOT = Path(__file__).resolve().parent.parent
SETUP_UNAVAILABLE_ZH = "AWS 几分钟内没有应答，设置已停止。没有丢失任何内容：请按 Retry。"


def chinese_for(code, text):
    return {str(reasons.MESSAGES[code]): text}


def test_a_failed_peerings_reason_reads_in_the_readers_language(deployment):
    peering = make_peering(deployment, Status.PENDING)
    assert services.fail(peering, reason_code="setup_unavailable", retryable=True)
    peering.refresh_from_db()
    assert (peering.status_reason_code, peering.status_reason_params) == ("setup_unavailable", {})
    assert peering.status_reason_text == ""
    english = (
        "AWS did not answer for about half an hour, so the set-up stopped. Nothing is lost: "
        "press Retry."
    )
    with translated(chinese_for("setup_unavailable", SETUP_UNAVAILABLE_ZH)):
        with translation.override("zh-hans"):
            assert peering.status_reason == SETUP_UNAVAILABLE_ZH
            # Support and webhook receivers read English whatever the page's language.
            assert peering.status_reason_english == english
        with translation.override("en"):
            assert peering.status_reason == english


def test_a_translation_may_put_the_parameters_in_its_own_order(deployment):
    peering = make_peering(deployment, Status.PENDING)
    params = {"requester_account_id": "111111111111", "account_id": "222222222222"}
    assert services.fail(
        peering, reason_code="wrong_account", reason_params=params, retryable=False
    )
    zh = "您输入的是 %(account_id)s，但 AWS 中的请求来自账号 %(requester_account_id)s。"
    with translated(chinese_for("wrong_account", zh)), translation.override("zh-hans"):
        assert peering.status_reason == (
            "您输入的是 222222222222，但 AWS 中的请求来自账号 111111111111。"
        )


def test_a_reason_is_rendered_when_read_not_when_made():
    reason = Reason("setup_unavailable")
    text = reason.text  # made in English (no language active) ...
    zh = chinese_for("setup_unavailable", SETUP_UNAVAILABLE_ZH)
    with translated(zh), translation.override("zh-hans"):
        # ... and read in Chinese: a form error made before the page's language is known.
        assert str(text) == SETUP_UNAVAILABLE_ZH
        assert str(reason) == SETUP_UNAVAILABLE_ZH
    assert str(text).startswith("AWS did not answer")


def test_a_translation_with_wrong_placeholders_falls_back_to_english(deployment):
    peering = make_peering(deployment, Status.PENDING)
    services.fail(
        peering,
        reason_code="route_conflict",
        reason_params={"cidr": "10.9.0.0/16"},
        retryable=False,
    )
    broken = chinese_for("route_conflict", "部署的网络已将 %(network)s 发往别处。")
    with translated(broken), translation.override("zh-hans"):
        assert peering.status_reason.startswith(
            "The deployment's network already sends 10.9.0.0/16 somewhere else"
        )


def test_a_row_from_before_the_codes_keeps_its_english_reason(deployment):
    peering = make_peering(
        deployment, Status.FAILED, status_reason_text="Something support wrote by hand."
    )
    zh = chinese_for("setup_unavailable", SETUP_UNAVAILABLE_ZH)
    with translated(zh), translation.override("zh-hans"):
        assert peering.status_reason == "Something support wrote by hand."
    assert peering.status_reason_english == "Something support wrote by hand."


def test_several_problems_are_stored_as_the_first_code_followed_by_the_others():
    refused = checks.Refused(
        {
            "account_id": [
                Reason("wrong_account", {"requester_account_id": "1", "account_id": "2"})
            ],
            "vpc_id": [Reason("wrong_vpc", {"requester_vpc_id": "vpc-1", "vpc_id": "vpc-2"})],
        }
    )
    reason = refused.reason()
    assert reason.code == "wrong_account"
    assert reason.params["more"] == [
        {"code": "wrong_vpc", "params": {"requester_vpc_id": "vpc-1", "vpc_id": "vpc-2"}}
    ]
    assert str(reason) == (
        "The request in AWS comes from account 1, not 2 that you entered. "
        "The request in AWS comes from VPC vpc-1, not vpc-2 that you entered."
    )


def test_a_refusal_on_the_form_keeps_its_code():
    form = PeeringForm(data={}, deployment=None)
    form.is_valid()
    checks.Refused({"vpc_id": [Reason("no_cidr")]}).add_to(form)
    error = form.errors.as_data()["vpc_id"][-1]
    assert error.code == "no_cidr"
    assert error.messages == ["AWS did not report any IPv4 CIDR for your VPC."]


def test_an_unknown_code_is_refused_before_anything_is_saved(deployment):
    peering = make_peering(deployment, Status.PENDING)
    with pytest.raises(reasons.UnknownReason):
        services.fail(peering, reason_code="no_such_code", retryable=False)
    with pytest.raises(reasons.UnknownReason):
        audit.record("peering.checked", target=peering, message_code="no_such_code")
    peering.refresh_from_db()
    assert peering.status == Status.PENDING
    assert not AuditEvent.objects.filter(action="peering.checked").exists()


# --- every code used is defined, and every defined one is used ---

CODE_KEYWORDS = {"reason_code", "message_code"}


def _constants(node):
    """The string constants an expression may evaluate to (a conditional's both branches)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _constants(node.body) | _constants(node.orelse)
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get":
        # QUOTA_REASONS.get(code, "aws_rejected")
        return set().union(*(_constants(arg) for arg in node.args[1:]))
    return set()


# Not the product's code: the tests, and what a checkout installs inside itself (.venv).
NOT_OURS = ("tests", "node_modules", ".venv", "staticfiles")


def codes_in_the_code_base():
    used = {}
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in (*NOT_OURS, "bench") or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            found = set()
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "Reason" and node.args:
                    found |= _constants(node.args[0])
                for keyword in node.keywords:
                    if keyword.arg in CODE_KEYWORDS:
                        found |= _constants(keyword.value)
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "QUOTA_REASONS" for t in node.targets
            ):
                found |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
            for code in found:
                used.setdefault(code, str(relative))
    return used


def test_every_reason_code_the_code_uses_is_defined_and_every_defined_one_is_used():
    used = codes_in_the_code_base()
    assert {code: where for code, where in used.items() if code not in reasons.MESSAGES} == {}
    assert set(reasons.MESSAGES) - set(used) == set()


STATUS_CHANGES = {"transition", "fail", "move"}


def test_no_service_passes_a_sentence_where_a_code_belongs():
    """transition()/fail() take a code; the old `reason=` keyword with a sentence is gone."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if path.relative_to(ROOT).parts[0] in NOT_OURS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in STATUS_CHANGES and any(k.arg == "reason" for k in node.keywords):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_codes_are_short_stable_snake_case_and_messages_name_their_placeholders():
    for code, message in reasons.MESSAGES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,40}", code), code
        english = str(message)
        # Named placeholders only: a translation may reorder them.
        assert not re.search(r"%[sd]|\{\w*\}", english), code


# --- audit messages ---


def test_an_audit_message_is_a_code_read_in_the_readers_language(deployment):
    peering = make_peering(deployment, Status.RUNNING)
    event = audit.record(
        "peering.requeued",
        target=peering,
        message_code="requeued",
        message_params={"status": "pending"},
    )
    event.refresh_from_db()
    assert (event.message, event.message_code, event.message_params) == (
        "",
        "requeued",
        {"status": "pending"},
    )
    zh = "%(status)s 状态过久；其任务已重新排队。"
    with translated(chinese_for("requeued", zh)), translation.override("zh-hans"):
        assert event.message_text == "pending 状态过久；其任务已重新排队。"
    assert event.message_text == "pending for too long; its task was queued again."
    assert audit.first_broken_link() is None


def test_an_old_event_keeps_its_english_message_and_its_hash(deployment):
    old = audit.record("peering.requeued", message="pending for too long (written in 2025).")
    new = audit.record("peering.requeued", message_code="requeued", message_params={"status": "x"})
    with (
        translated(chinese_for("requeued", "%(status)s 状态过久。")),
        translation.override("zh-hans"),
    ):
        assert old.message_text == "pending for too long (written in 2025)."
        assert new.message_text == "x 状态过久。"
    # The new fields are hashed only when set: the old event's hash is what it always was.
    content_without_codes = audit.event_hash(old)
    assert old.hash == content_without_codes
    assert audit.first_broken_link() is None


def test_a_changed_message_code_or_parameter_breaks_the_chain(deployment):
    event = audit.record(
        "peering.requeued", message_code="requeued", message_params={"status": "a"}
    )
    audit.record("peering.requeued", message_code="requeued", message_params={"status": "b"})
    # Behind the model's back, as an attacker with database access would.
    with behind_the_models_back() as cursor:
        cursor.execute(
            "UPDATE peerings_auditevent SET message_params = %s WHERE id = %s",
            ['{"status": "running"}', event.pk],
        )
    broken = audit.first_broken_link()
    assert broken is not None and broken[0].pk == event.pk


def test_a_transition_event_keeps_the_code_not_a_sentence(deployment):
    peering = make_peering(deployment, Status.RUNNING)
    services.transition(
        peering,
        to=Status.PEER_DELETED,
        allowed_from=[Status.RUNNING],
        action="peering.peer_deleted",
        reason_code="deleted_by_customer",
        reason_params={"state": "rejected"},
    )
    event = AuditEvent.objects.get(action="peering.peer_deleted")
    assert event.before == {
        "status": "running",
        "status_reason_code": "",
        "status_reason_params": {},
    }
    assert event.after == {
        "status": "peer_deleted",
        "status_reason_code": "deleted_by_customer",
        "status_reason_params": {"state": "rejected"},
    }


# --- the audit page and its CSV ---


def test_the_audit_page_reads_messages_and_reasons_in_the_readers_language(
    client, owner, deployment
):
    peering = make_peering(deployment, Status.PENDING)
    services.fail(peering, reason_code="setup_unavailable", retryable=True)
    audit.record(
        "peering.requeued",
        target=peering,
        message_code="requeued",
        message_params={"status": "pending"},
    )
    audit.record("peering.created", target=peering, message="Written in English in 2025.")
    client.force_login(owner)
    entries = {
        **chinese_for("setup_unavailable", SETUP_UNAVAILABLE_ZH),
        **chinese_for("requeued", "%(status)s 状态过久；其任务已重新排队。"),
    }
    with translated(entries), translation.override("zh-hans"):
        page = client.get(
            reverse("audit-log"), headers={"accept-language": "zh-hans"}
        ).content.decode()
    assert SETUP_UNAVAILABLE_ZH in page
    assert "pending 状态过久；其任务已重新排队。" in page
    assert "Written in English in 2025." in page
    # The stored code is never what a person reads.
    assert "setup_unavailable" not in page and "status reason code" not in page


def test_the_csv_writes_the_readers_language_beside_the_machines_codes(client, owner, deployment):
    peering = make_peering(deployment, Status.RUNNING)
    audit.record(
        "peering.requeued",
        target=peering,
        message_code="requeued",
        message_params={"status": "pending"},
    )
    audit.record("peering.created", target=peering, message="Written in English in 2025.")
    client.force_login(owner)
    with (
        translated(chinese_for("requeued", "%(status)s 状态过久。")),
        translation.override("zh-hans"),
    ):
        response = client.get(reverse("audit-export"), headers={"accept-language": "zh-hans"})
        body = b"".join(response.streaming_content).decode()
    header, *rows = list(csv.reader(io.StringIO(body)))
    # New columns go at the end: scripts reading columns by position keep working.
    assert header[-1] == "message_code"
    by_action = {row[header.index("action")]: dict(zip(header, row, strict=True)) for row in rows}
    requeued = by_action["peering.requeued"]
    assert (requeued["message"], requeued["message_code"]) == ("pending 状态过久。", "requeued")
    old = by_action["peering.created"]
    assert (old["message"], old["message_code"]) == ("Written in English in 2025.", "")


@pytest.mark.parametrize("code", ["setup_unavailable", "delete_unavailable"])
def test_about_half_an_hour_is_what_the_worker_waits_before_it_gives_up(code, monkeypatch):
    """The messages name the worker's retry schedule: rounds 1 … MAX_UNAVAILABLE_ROUNDS-1
    of peerings.queue.retry_delay, each drawn from the upper half of its ceiling."""
    from types import SimpleNamespace

    from peerings import queue, services

    def waited(draw):
        monkeypatch.setattr(queue, "random", SimpleNamespace(uniform=draw))
        rounds = range(1, services.MAX_UNAVAILABLE_ROUNDS)
        return sum(queue.retry_delay(n) for n in rounds) / 60

    shortest, longest = waited(lambda low, high: low), waited(lambda low, high: high)
    assert shortest >= 15 and longest <= 45, (shortest, longest)
    assert "about half an hour" in reasons.english(code, {})
