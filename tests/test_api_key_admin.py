"""API keys in the support admin: support sees every organization's keys (never a secret,
never a hash) and revokes one that leaked, audited as support; nobody adds, changes or
deletes keys there."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from api import keys
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

LIST = "/admin/api/apikey/"


@pytest.fixture
def key_and_secret(organization, owner):
    return keys.create_key(
        organization, name="terraform-prod", role="member", expires_at=None, user=owner
    )


def revoke(client, key):
    return client.post(LIST, {"action": "revoke", "_selected_action": [key.pk]}, follow=True)


def test_support_sees_every_key_but_never_its_secret_or_hash(client, support, key_and_secret):
    key, secret = key_and_secret
    client.force_login(support)
    for url in (LIST, f"{LIST}{key.pk}/change/"):
        page = client.get(url).content.decode()
        assert "terraform-prod" in page
        assert f"{key.prefix}…" in page
        assert secret not in page and secret[len(key.prefix) :] not in page
        assert key.secret_hash not in page


def test_support_revokes_a_leaked_key_and_the_audit_log_says_support_did(
    client, support, key_and_secret
):
    key, secret = key_and_secret
    client.force_login(support)
    page = revoke(client, key).content.decode()
    assert "Revoked 1 API key: terraform-prod" in page
    assert keys.key_for_secret(secret) is None
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert (event.actor_id, event.source, event.by_support) == (support.pk, "admin", True)
    assert event.target_id == str(key.pk)
    # Again: nothing changes, and it says so.
    assert "already revoked" in revoke(client, key).content.decode()
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_staff_without_the_revoke_grant_cannot_revoke(client, key_and_secret):
    key, secret = key_and_secret
    viewer = get_user_model().objects.create_user("vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(viewer)
    assert "terraform-prod" in client.get(LIST).content.decode()
    revoke(client, key)
    assert keys.key_for_secret(secret) is not None
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()


def test_nobody_adds_changes_or_deletes_keys_in_the_admin(client, superuser, key_and_secret):
    key, secret = key_and_secret
    client.force_login(superuser)
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.post(f"{LIST}{key.pk}/change/", {"name": "renamed"}).status_code == 403
    assert client.post(f"{LIST}{key.pk}/delete/", {"post": "yes"}).status_code == 403
    key.refresh_from_db()
    assert key.name == "terraform-prod"


def test_the_key_list_reads_in_chinese(client, support, key_and_secret):
    client.force_login(support)
    page = client.get(LIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "API 密钥" in page
    assert "吊销" in page  # the action
    assert "可用" in page  # the key's state
