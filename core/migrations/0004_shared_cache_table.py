"""The table of the cache every process shares when there is no Redis (core.cache): made
whatever REDIS_URL says today, so that turning Redis off later needs nothing but a restart,
and so that `migrate` is all a deploy runs."""

from django.core.management import call_command
from django.db import migrations

from core.cache import TABLE


def create_table(apps, schema_editor):
    # Django's own command, given the table by name: it makes the table as Django's
    # database cache expects it, and nothing if it exists.
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_audit_checkpoint"),
    ]

    operations = [migrations.RunPython(create_table, drop_table)]
