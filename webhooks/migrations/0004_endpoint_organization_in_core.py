"""Organization moved from peerings to core (core/migrations/0001): endpoints point there.
State only: the table and the foreign-key constraint are the same as before."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0003_secret_rotation_overlap"),
        ("core", "0001_initial"),
    ]
    # Before peerings forgets its Organization, or this field would point at nothing.
    run_before = [
        ("peerings", "0007_organization_membership_auditevent_move_to_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="webhookendpoint",
                    name="organization",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="webhook_endpoints",
                                            to="core.organization"),
                ),
            ],
        ),
    ]
