"""Organization, Membership and AuditEvent move here from the peerings app, in Django's
state only: their tables were created by peerings' migrations and keep their names
(`db_table`), so no table, row, foreign key, index, constraint or trigger changes.

peerings/migrations/0007 removes them from peerings' state and points Deployment at
core.Organization; webhooks/migrations/0004 points WebhookEndpoint here, before that."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The tables exist from here on (and AuditEvent refers to peerings.Deployment).
        ('peerings', '0006_audit_by_support'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Organization',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'peerings_organization',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('owner', 'Owner'), ('member', 'Member'), ('viewer', 'Viewer')], default='member', max_length=10)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='core.organization')),
                    ],
                    options={
                        'db_table': 'peerings_membership',
                        'constraints': [models.UniqueConstraint(fields=('user', 'organization'), name='membership_one_per_user_and_org'), models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'member', 'viewer'])), name='membership_role_valid')],
                    },
                ),
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('actor_name', models.CharField(blank=True, max_length=150)),
                        ('source', models.CharField(choices=[('web', 'Web'), ('admin', 'Admin'), ('task', 'Task'), ('system', 'System')], max_length=10)),
                        ('ip', models.GenericIPAddressField(blank=True, null=True)),
                        ('request_id', models.CharField(blank=True, max_length=64)),
                        ('by_support', models.BooleanField(default=False)),
                        ('action', models.CharField(max_length=64)),
                        ('target_type', models.CharField(blank=True, max_length=64)),
                        ('target_id', models.CharField(blank=True, max_length=64)),
                        ('target_repr', models.CharField(blank=True, max_length=200)),
                        ('before', models.JSONField(blank=True, default=dict)),
                        ('after', models.JSONField(blank=True, default=dict)),
                        ('message', models.TextField(blank=True)),
                        ('prev_hash', models.CharField(blank=True, editable=False, max_length=64)),
                        ('hash', models.CharField(blank=True, editable=False, max_length=64)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('deployment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='peerings.deployment')),
                        ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.organization')),
                    ],
                    options={
                        'db_table': 'peerings_auditevent',
                        'ordering': ['-id'],
                        'indexes': [models.Index(fields=['organization', '-id'], name='audit_org_id'), models.Index(fields=['organization', 'deployment', '-id'], name='audit_org_dep_id')],
                    },
                ),
            ],
        ),
    ]
