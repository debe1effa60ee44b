"""Whether the vendor's staff acted, kept on the event when it is written (customers see
them as the vendor's support). Hashed only when set, so older events' hashes still hold."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('peerings', '0005_reconcile_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='by_support',
            field=models.BooleanField(default=False),
        ),
    ]
