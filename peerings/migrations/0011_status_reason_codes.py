"""Failure reasons become codes with parameters (core/reasons.py), rendered in the reader's
language. A row whose English sentence is one the portal wrote is read back into its code;
any other keeps its sentence as the fallback it shows (status_reason_text). The same for the
failure a support request copied.

The sentences are written out here as they were: this migration must read old rows the
same way whatever the messages of core/reasons.py become."""

import importlib
import re

from django.db import migrations, models

# SQLite rebuilds a table to add a column with a default, and neither the peering's trigger
# (dropped with the old table) nor the resource's (naming the table being renamed) survives
# that: take them off for the rebuild and put them back after, as 0002 made them.
_TRIGGERS = importlib.import_module("peerings.migrations.0002_resource_binding_triggers")


def _on_sqlite(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


DROP_SQLITE_TRIGGERS = migrations.RunPython(
    _on_sqlite(_TRIGGERS.SQLITE_REVERSE), _on_sqlite(_TRIGGERS.SQLITE)
)
CREATE_SQLITE_TRIGGERS = migrations.RunPython(
    _on_sqlite(_TRIGGERS.SQLITE), _on_sqlite(_TRIGGERS.SQLITE_REVERSE)
)

_ASK_SUPPORT = (
    "Only our support team can fix this: ask support, and Retry is offered once they have."
)
_RAISE_LIMIT = (
    " Ask our support team to raise the limit (Retry is offered once they have), or delete "
    "a peering you no longer use."
)
_DELETE_STOPPED = (
    "Deleting stopped because AWS did not complete a step (%s). Nothing is left half-done "
    "that a second try cannot finish: press Delete again."
)

# (code, the sentence it replaced): first match wins.
SENTENCES = [
    (
        "deleted_by_customer",
        "The peering connection is %(state)s in AWS: it was deleted, rejected or expired on "
        "your side. Resources using it cannot be reached; create a new peering and move them.",
    ),
    ("delete_unavailable", _DELETE_STOPPED % "no answer for several minutes"),
    ("delete_refused", _DELETE_STOPPED % "%(aws_code)s"),
    (
        "setup_misconfigured",
        "The set-up stopped: the portal's own AWS set-up has a problem, and our support team "
        "has been alerted. Nothing is lost: press Retry once it is fixed.",
    ),
    (
        "setup_unavailable",
        "AWS did not answer for several minutes, so the set-up stopped. Nothing is lost: "
        "press Retry.",
    ),
    (
        "quota_rules",
        "The deployment's security group has reached AWS's limit of rules (60 by default), "
        "so no more VPC peerings fit." + _RAISE_LIMIT,
    ),
    (
        "quota_routes",
        "The deployment's route table has reached AWS's limit of routes (50 by default), so "
        "no more VPC peerings fit." + _RAISE_LIMIT,
    ),
    (
        "quota_peerings",
        "The deployment's VPC has reached AWS's limit of active VPC peerings." + _RAISE_LIMIT,
    ),
    ("aws_rejected", "AWS refused a step of the set-up. " + _ASK_SUPPORT),
    (
        "route_conflict",
        "The deployment's network already sends %(cidr)s somewhere else, so traffic could not "
        "reach your VPC through this peering. " + _ASK_SUPPORT,
    ),
    (
        "peering_not_active",
        "AWS reports the peering connection as %(state)s: %(aws_message)s. Create a new "
        "request and delete this peering.",
    ),
    (
        "demo_simulator_restarted",
        "The demo AWS simulator was restarted; this peering no longer exists there.",
    ),
]


def _pattern(sentence):
    escaped = re.escape(sentence)
    return re.compile(r"\A" + re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.+?)", escaped) + r"\Z")


PATTERNS = [(code, _pattern(sentence), sentence) for code, sentence in SENTENCES]


def read_back(text):
    """(code, params) of a sentence the portal wrote, or None."""
    for code, pattern, _sentence in PATTERNS:
        match = pattern.match(text)
        if match:
            return code, match.groupdict()
    return None


def _convert(model, prefix):
    text_field = f"{prefix}_text"
    for row in model.objects.exclude(**{text_field: ""}).only("pk", text_field).iterator():
        found = read_back(getattr(row, text_field))
        if found:
            code, params = found
            model.objects.filter(pk=row.pk).update(
                **{f"{prefix}_code": code, f"{prefix}_params": params, text_field: ""}
            )


def _unconvert(model, prefix):
    sentences = {code: sentence for code, sentence in SENTENCES}
    for row in model.objects.exclude(**{f"{prefix}_code": ""}).iterator():
        code, params = getattr(row, f"{prefix}_code"), getattr(row, f"{prefix}_params")
        # A code newer than this migration has no sentence here: the code says it best.
        try:
            text = sentences[code] % params
        except (KeyError, TypeError, ValueError):
            text = code
        model.objects.filter(pk=row.pk).update(**{f"{prefix}_text": text})



def forwards(apps, schema_editor):
    _convert(apps.get_model("peerings", "PeeringConnection"), "status_reason")
    _convert(apps.get_model("peerings", "SupportRequest"), "failure_reason")


def backwards(apps, schema_editor):
    _unconvert(apps.get_model("peerings", "PeeringConnection"), "status_reason")
    _unconvert(apps.get_model("peerings", "SupportRequest"), "failure_reason")


class Migration(migrations.Migration):
    dependencies = [
        ("peerings", "0010_aws_rate_bucket"),
    ]

    operations = [
        DROP_SQLITE_TRIGGERS,
        migrations.RenameField("peeringconnection", "status_reason", "status_reason_text"),
        migrations.AlterField(
            model_name="peeringconnection",
            name="status_reason_text",
            field=models.TextField(blank=True, verbose_name="status reason (before codes)"),
        ),
        migrations.AddField(
            model_name="peeringconnection",
            name="status_reason_code",
            field=models.CharField(blank=True, max_length=64, verbose_name="status reason code"),
        ),
        migrations.AddField(
            model_name="peeringconnection",
            name="status_reason_params",
            field=models.JSONField(
                blank=True, default=dict, verbose_name="status reason parameters"
            ),
        ),
        migrations.RenameField("supportrequest", "failure_reason", "failure_reason_text"),
        migrations.AlterField(
            model_name="supportrequest",
            name="failure_reason_text",
            field=models.TextField(blank=True, verbose_name="reason when asked (before codes)"),
        ),
        migrations.AddField(
            model_name="supportrequest",
            name="failure_reason_code",
            field=models.CharField(
                blank=True, max_length=64, verbose_name="reason code when asked"
            ),
        ),
        migrations.AddField(
            model_name="supportrequest",
            name="failure_reason_params",
            field=models.JSONField(
                blank=True, default=dict, verbose_name="reason parameters when asked"
            ),
        ),
        CREATE_SQLITE_TRIGGERS,
        migrations.RunPython(forwards, backwards),
    ]
