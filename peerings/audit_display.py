"""The customer's audit log in words people read: an action's label instead of its code,
and an event's before and after as short lines ("status: pending → running") instead of
the stored JSON. The page and the CSV export both use these."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import audit, reasons

# Left out of the page, as they always were: reconcile's findings are long notes about the
# vendor's side (route tables, rules). The CSV keeps the whole before and after.
NOT_SHOWN = frozenset({"findings"})

# A reason kept as a code and its parameters (core/reasons.py), shown as one line in the
# reader's language under the name the English sentence had.
REASON_KEYS = {"status_reason_code": ("status_reason_params", "status_reason")}

# Parts of a key that read as acronyms: "customer_vpc_id" → "customer VPC ID".
_ACRONYMS = {
    "aws": "AWS",
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "url": "URL",
    "vpc": "VPC",
}

# The keys our services record, as a reader reads them; any other reads as its words.
FIELD_LABELS = {
    "status": gettext_lazy("status"),
    "status_reason": gettext_lazy("status reason"),
    "retryable": gettext_lazy("retryable"),
    "peering_id": gettext_lazy("peering ID"),
    "peering": gettext_lazy("peering"),
    "customer_account_id": gettext_lazy("customer account ID"),
    "customer_vpc_id": gettext_lazy("customer VPC ID"),
    "customer_cidrs": gettext_lazy("customer CIDRs"),
    "aws_status": gettext_lazy("AWS status"),
    "aws_error": gettext_lazy("AWS error"),
    "stopped_by": gettext_lazy("stopped by"),
    "support_request": gettext_lazy("support request"),
    "state": gettext_lazy("state"),
    "words": gettext_lazy("words"),
    "answer": gettext_lazy("answer"),
    "cause_fixed": gettext_lazy("cause fixed"),
    "name": gettext_lazy("name"),
    "kind": gettext_lazy("kind"),
    "host": gettext_lazy("host"),
    "port": gettext_lazy("port"),
}

# Stands for "nothing" where a value was cleared.
NOTHING = "—"


def action_labels() -> dict[str, str]:
    """Code → label, as the action filter offers them, in the reader's language."""
    return {code: str(label) for code, label in audit.customer_actions()}


def action_label(code: str, labels: Mapping[str, str]) -> str:
    """The filter's label for an action; an action no app names (an admin change, say)
    keeps its code rather than vanish."""
    return labels.get(code, code)


@dataclass(frozen=True)
class Change:
    """One line of an event's change. `before` is set only when the value changed."""

    field: str
    before: str
    after: str

    @property
    def value(self) -> str:
        if self.before:
            return f"{self.before} → {self.after or NOTHING}"
        return self.after

    def __str__(self) -> str:
        return f"{self.field}: {self.value}"


def changes(before: Any, after: Any) -> list[Change]:
    """The event's before and after as lines, key by key: a value that changed reads
    before → after, one that did not (or exists on one side only) reads once, an empty one
    not at all."""
    before = with_rendered_reasons(before if isinstance(before, Mapping) else {})
    after = with_rendered_reasons(after if isinstance(after, Mapping) else {})
    lines = []
    # In the order of the alphabet: PostgreSQL's jsonb keeps no order of its own.
    for key in sorted({*before, *after}, key=str):
        if key in NOT_SHOWN:
            continue
        old, new = as_text(before.get(key)), as_text(after.get(key))
        if key not in after:  # what was there before, such as a deleted resource's host
            old, new = "", old
        elif old == new:
            old = ""
        if old or new:
            lines.append(Change(field=field_label(key), before=old, after=new))
    return lines


def with_rendered_reasons(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each reason code and its parameters replaced by its sentence in the
    reader's language (an event older than the codes holds the English sentence itself)."""
    shown = dict(values)
    for code_key, (params_key, shown_key) in REASON_KEYS.items():
        if code_key in shown:
            code, params = shown.pop(code_key), shown.pop(params_key, None)
            if code or shown_key not in shown:
                shown[shown_key] = reasons.render(code, params) if code else ""
    return shown


def field_label(key: str) -> str:
    label = FIELD_LABELS.get(key)
    return str(label) if label is not None else as_words(key)


def as_words(key: str) -> str:
    return " ".join(_ACRONYMS.get(part, part) for part in str(key).split("_") if part)


def as_text(value: Any) -> str:
    """A stored JSON value as a person reads it; "" for nothing at all."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str):
        return _as_time(value) or value.strip()
    if isinstance(value, list | tuple):
        return ", ".join(text for text in map(as_text, value) if text)
    if isinstance(value, Mapping):
        if "code" in value and "params" in value and value["code"] in reasons.MESSAGES:
            return reasons.render(value["code"], value["params"])
        return ", ".join(
            f"{as_words(key)}: {text}" for key, item in value.items() if (text := as_text(item))
        )
    return str(value)


def _as_time(value: str) -> str:
    """A stored moment ("2026-11-30 14:05:09.123456+00:00", as the log keeps datetimes) in
    the page's own form, "2026-11-30 14:05:09 UTC"; "" for any other text."""
    if len(value) < 19 or value[4:5] != "-" or value[10:11] not in (" ", "T"):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
