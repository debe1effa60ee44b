"""The content types of the three models that moved here from peerings (0001) move with
them, so that what points at them follows: their permissions, and so the Support group's
and any user's grants, and the admin's history of changes to them.

A fresh database has no such rows yet unless peerings/0004 made them (Django makes the
rest after `migrate`). A database may hold both (Django made core's in a `migrate` that
stopped at core 0001): then core's are kept and everything is moved onto them."""

from django.conf import settings
from django.db import migrations

MOVED = ["organization", "membership", "auditevent"]


def move_content_types(apps, from_label, to_label):
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    log_entry_model = apps.get_model("admin", "LogEntry")
    for model in MOVED:
        old = content_type_model.objects.filter(app_label=from_label, model=model).first()
        if old is None:
            continue
        new = content_type_model.objects.filter(app_label=to_label, model=model).first()
        if new is None:
            old.app_label = to_label
            old.save(update_fields=["app_label"])
            continue
        for permission in permission_model.objects.filter(content_type=old):
            twin = permission_model.objects.filter(
                content_type=new, codename=permission.codename).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            for group in group_model.objects.filter(permissions=permission):
                group.permissions.add(twin)
            for user in user_model.objects.filter(user_permissions=permission):
                user.user_permissions.add(twin)
            permission.delete()
        log_entry_model.objects.filter(content_type=old).update(content_type=new)
        old.delete()


def forwards(apps, schema_editor):
    move_content_types(apps, "peerings", "core")


def backwards(apps, schema_editor):
    move_content_types(apps, "core", "peerings")


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
