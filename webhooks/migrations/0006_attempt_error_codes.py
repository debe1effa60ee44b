"""An attempt's error becomes a code of core/reasons.py with its parameters, said in the
reader's language. Attempts made before keep their English sentence, as it was, in
error_text: the page shows it where there is no code."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0005_names_translated"),
    ]

    operations = [
        migrations.RenameField("webhookattempt", "error", "error_text"),
        migrations.AlterField(
            model_name="webhookattempt",
            name="error_text",
            field=models.TextField(blank=True, verbose_name="error (before codes)"),
        ),
        migrations.AddField(
            model_name="webhookattempt",
            name="error_code",
            field=models.CharField(blank=True, max_length=64, verbose_name="error code"),
        ),
        migrations.AddField(
            model_name="webhookattempt",
            name="error_params",
            field=models.JSONField(blank=True, default=dict, verbose_name="error parameters"),
        ),
    ]
