"""The benchmark's data, written straight into its own database: organizations, users,
deployments with running peerings and a resource each, and a million audit events. AWS is
not involved here (the page measurements only read the database); provisioning makes its
own AWS-backed deployments."""

import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from core import bootstrap
from core.models import Membership, Organization
from peerings.models import Deployment, PeeringConnection, Resource

CUSTOMER_ACCOUNT = "210987654321"
VENDOR_ACCOUNT = "123456789012"
_ids = itertools.count(1)


@dataclass
class World:
    organization: Organization
    owner: object
    support: object
    small: Deployment = None
    large: Deployment = None


def _aws_id(prefix):
    return f"{prefix}-{next(_ids):017x}"


def _user(username, *, staff=False):
    user = get_user_model().objects.create_user(username, is_staff=staff)
    user.set_unusable_password()  # the bench logs in with force_login / a session cookie
    user.save()
    return user


def superuser():
    """Who the stock admin changelist, the reference of the load part, is requested as."""
    user = get_user_model().objects.create_superuser("bench-admin", email=None)
    user.set_unusable_password()
    user.save()
    return user


def start():
    """The customer, its owner, and a support user in the Support group."""
    organization = Organization.objects.create(name="Bench Org")
    owner = _user("olivia")
    Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    support = _user("support", staff=True)
    support.groups.add(Group.objects.get(name=bootstrap.SUPPORT_GROUP))
    return World(organization, owner, support)


def deployment(organization, name, peerings, *, cidr="10.20.0.0/16"):
    """A dedicated deployment with `peerings` running peerings and one resource bound to
    each (the heaviest row the deployment page draws: status, reason, next steps)."""
    found = Deployment.objects.create(
        organization=organization,
        name=name,
        plan=Deployment.Plan.DEDICATED,
        region="us-east-1",
        vendor_account_id=VENDOR_ACCOUNT,
        vpc_id=_aws_id("vpc"),
        cidr=cidr,
        security_group_id=_aws_id("sg"),
        service_ports=[1883, 8883],
    )
    now = timezone.now()
    rows = PeeringConnection.objects.bulk_create(
        PeeringConnection(
            deployment=found,
            peering_id=_aws_id("pcx"),
            customer_account_id=CUSTOMER_ACCOUNT,
            customer_vpc_id=_aws_id("vpc"),
            customer_cidrs=[_customer_cidr(i)],
            status=PeeringConnection.Status.RUNNING,
            created_at=now - timedelta(minutes=peerings - i),
            status_changed_at=now - timedelta(minutes=peerings - i),
        )
        for i in range(peerings)
    )
    Resource.objects.bulk_create(
        Resource(
            deployment=found,
            peering=peering,
            name=f"mysql-{i:04d}",
            kind=Resource.Kind.MYSQL,
            host=_customer_cidr(i).replace(".0/24", ".10"),
            port=3306,
        )
        for i, peering in enumerate(rows)
    )
    return found


def _customer_cidr(i):
    return f"172.{16 + i // 256}.{i % 256}.0/24"


def other_customers(total_peerings, per_deployment=500):
    """Other organizations' peerings: rows the support admin lists, no customer page shows."""
    organization = Organization.objects.create(name="Other customers")
    made = 0
    for number in itertools.count(1):
        if made >= total_peerings:
            return
        count = min(per_deployment, total_peerings - made)
        deployment(organization, f"other-{number}", count)
        made += count


AUDIT_COLUMNS = (
    "created_at, actor_id, actor_name, source, ip, request_id, organization_id, "
    "deployment_id, action, target_type, target_id, target_repr, before, after, "
    "message, prev_hash, hash, by_support, message_code, message_params"
)

# One INSERT … SELECT over a generated series: a million rows in seconds, no Python loop.
# The hash columns hold any 64 characters: nothing here verifies the chain.
_AUDIT_SQLITE = """
INSERT INTO peerings_auditevent ({columns})
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
SELECT datetime('2025-01-01', '+' || i || ' seconds'), {actor}, 'olivia',
       CASE i % 3 WHEN 0 THEN 'web' ELSE 'task' END, '192.0.2.10', printf('%032x', i),
       {organization}, CASE i % 2 WHEN 0 THEN {small} ELSE {large} END,
       CASE i % 3 WHEN 0 THEN 'peering.created' WHEN 1 THEN 'peering.provisioning'
            ELSE 'peering.running' END,
       'PeeringConnection', CAST(i % 500 AS TEXT), printf('pcx-%017x', i % 500),
       '{{}}', '{{"status": "running", "status_reason": ""}}', '',
       printf('%064x', i - 1), printf('%064x', i), 0, '', '{{}}'
FROM n
"""

_AUDIT_POSTGRESQL = """
INSERT INTO peerings_auditevent ({columns})
SELECT timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second', {actor}, 'olivia',
       CASE i % 3 WHEN 0 THEN 'web' ELSE 'task' END, '192.0.2.10'::inet,
       lpad(to_hex(i), 32, '0'), {organization},
       CASE i % 2 WHEN 0 THEN {small} ELSE {large} END,
       CASE i % 3 WHEN 0 THEN 'peering.created' WHEN 1 THEN 'peering.provisioning'
            ELSE 'peering.running' END,
       'PeeringConnection', (i % 500)::text, 'pcx-' || lpad(to_hex(i % 500), 17, '0'),
       '{{}}'::jsonb, '{{"status": "running", "status_reason": ""}}'::jsonb, '',
       lpad(to_hex(i - 1), 64, '0'), lpad(to_hex(i), 64, '0'), FALSE, '', '{{}}'::jsonb
FROM generate_series(1, {count}) AS i
"""


def audit_events(world, count):
    """`count` events of the customer's organization, newest last. On PostgreSQL, fresh
    statistics as autovacuum would gather after such an insert; SQLite is left as the
    portal leaves it (no ANALYZE)."""
    template = _AUDIT_POSTGRESQL if connection.vendor == "postgresql" else _AUDIT_SQLITE
    sql = template.format(
        columns=AUDIT_COLUMNS,
        count=int(count),
        actor=world.owner.pk,
        organization=world.organization.pk,
        small=world.small.pk,
        large=world.large.pk,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE peerings_auditevent")
