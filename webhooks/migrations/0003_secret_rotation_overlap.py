
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0002_delivery_recovery'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhookendpoint',
            name='previous_secret',
            field=models.CharField(blank=True, editable=False, max_length=100),
        ),
        migrations.AddField(
            model_name='webhookendpoint',
            name='previous_secret_expires_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
