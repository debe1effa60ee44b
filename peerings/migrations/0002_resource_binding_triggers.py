"""The database itself keeps resources and peerings consistent, whatever path a write takes
(views, admin, a shell, a retrying worker, raw SQL):

- a resource may only be bound to a `running` peering of its own deployment;
- a peering may not move to `deleting` or `deleted` while a resource is bound to it.

On PostgreSQL the resource trigger takes FOR SHARE on the peering row, so a concurrent
status change waits for it (and vice versa): "bind" racing "delete" can never both win.
SQLite serialises writers, so plain triggers suffice there. Errors carry SQLSTATE 23514
(check_violation) / SQLite's constraint code, which Django raises as IntegrityError."""

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION peerings_resource_bind_check() RETURNS trigger AS $$
DECLARE
    peering RECORD;
BEGIN
    SELECT status, deployment_id INTO peering FROM peerings_peeringconnection
        WHERE id = NEW.peering_id FOR SHARE;
    IF peering.status IS DISTINCT FROM 'running' THEN
        RAISE EXCEPTION 'resource_needs_running_peering: peering % is %',
            NEW.peering_id, peering.status USING ERRCODE = 'check_violation';
    END IF;
    IF peering.deployment_id <> NEW.deployment_id THEN
        RAISE EXCEPTION 'resource_peering_of_other_deployment: peering %', NEW.peering_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER peerings_resource_bind_check
    BEFORE INSERT OR UPDATE OF peering_id, deployment_id ON peerings_resource
    FOR EACH ROW EXECUTE FUNCTION peerings_resource_bind_check();

CREATE OR REPLACE FUNCTION peerings_peering_unbound_check() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('deleting', 'deleted') AND OLD.status IS DISTINCT FROM NEW.status
       AND EXISTS (SELECT 1 FROM peerings_resource WHERE peering_id = NEW.id) THEN
        RAISE EXCEPTION 'peering_has_resources: peering % still has resources', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER peerings_peering_unbound_check
    BEFORE UPDATE OF status ON peerings_peeringconnection
    FOR EACH ROW EXECUTE FUNCTION peerings_peering_unbound_check();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS peerings_resource_bind_check ON peerings_resource;
DROP FUNCTION IF EXISTS peerings_resource_bind_check();
DROP TRIGGER IF EXISTS peerings_peering_unbound_check ON peerings_peeringconnection;
DROP FUNCTION IF EXISTS peerings_peering_unbound_check();
"""

_SQLITE_RESOURCE_CHECK = """
BEGIN
    SELECT RAISE(ABORT, 'resource_needs_running_peering')
    WHERE (SELECT status FROM peerings_peeringconnection WHERE id = NEW.peering_id)
          IS NOT 'running';
    SELECT RAISE(ABORT, 'resource_peering_of_other_deployment')
    WHERE (SELECT deployment_id FROM peerings_peeringconnection WHERE id = NEW.peering_id)
          IS NOT NEW.deployment_id;
END;
"""

SQLITE = [
    "CREATE TRIGGER peerings_resource_bind_insert BEFORE INSERT ON peerings_resource"
    + _SQLITE_RESOURCE_CHECK,
    "CREATE TRIGGER peerings_resource_bind_update BEFORE UPDATE OF peering_id, deployment_id"
    " ON peerings_resource" + _SQLITE_RESOURCE_CHECK,
    """
    CREATE TRIGGER peerings_peering_unbound BEFORE UPDATE OF status ON peerings_peeringconnection
    WHEN NEW.status IN ('deleting', 'deleted') AND OLD.status IS NOT NEW.status
    BEGIN
        SELECT RAISE(ABORT, 'peering_has_resources')
        WHERE EXISTS (SELECT 1 FROM peerings_resource WHERE peering_id = NEW.id);
    END;
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS peerings_resource_bind_insert",
    "DROP TRIGGER IF EXISTS peerings_resource_bind_update",
    "DROP TRIGGER IF EXISTS peerings_peering_unbound",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise NotImplementedError(
                f"No binding triggers for {schema_editor.connection.vendor}"
            )
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("peerings", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
