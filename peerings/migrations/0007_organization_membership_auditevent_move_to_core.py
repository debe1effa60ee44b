"""Organization, Membership and AuditEvent now belong to the core app (core/migrations/0001
took them over, tables and all): they leave peerings' state, and Deployment points at
core.Organization. State only: the tables, their rows and the foreign-key constraints
(to the same table as before) do not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("peerings", "0006_audit_by_support"),
        ("core", "0001_initial"),
        # Other apps' foreign keys to peerings.Organization move to core's first; they say
        # so themselves (run_before), so that peerings need not name them.
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="deployment",
                    name="organization",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="deployments", to="core.organization"),
                ),
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="Membership"),
                migrations.DeleteModel(name="Organization"),
            ],
        ),
    ]
