"""API keys: owners make them on the `API keys` page (the secret shown once, only its
hash stored), see their last use and revoke them; every key action is audited; the API
takes `Authorization: Bearer ppk_…` and nothing else."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api import keys
from api.models import ApiKey
from core.models import AuditEvent, Membership
from tests.support.api import ApiClient, assert_problem, make_key
from tests.support.factories import make_deployment

pytestmark = pytest.mark.django_db

DEPLOYMENTS = "/api/v1/deployments/"


def create_on_the_page(client, organization, **values):
    data = {"name": "terraform", "role": "member", "expires_on": "", **values}
    return client.post(reverse("api-key-new", args=[organization.pk]), data)


def test_the_header_links_to_the_api_keys_page(client, owner):
    client.force_login(owner)
    page = client.get(reverse("deployment-list")).content.decode()
    assert f'href="{reverse("api-key-list")}">API keys</a>' in page


def test_an_owner_creates_a_key_and_sees_its_secret_once(client, owner, organization):
    client.force_login(owner)
    response = create_on_the_page(client, organization, name="terraform-prod")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="api-key-secret">([^<]+)<', response.content.decode()).group(1)
    assert re.fullmatch(r"ppk_[A-Za-z0-9_-]{32,}", secret)
    key = ApiKey.objects.get()
    assert key.secret_hash == keys.hash_secret(secret)
    assert secret not in str(list(ApiKey.objects.values()))
    assert (key.name, key.role, key.created_by) == ("terraform-prod", "member", owner)
    listing = client.get(reverse("api-key-list")).content.decode()
    assert secret not in listing
    assert key.prefix in listing and secret.startswith(key.prefix)
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.organization == organization and event.actor == owner
    assert secret not in str(event.after) + event.target_repr
    assert ApiClient(secret).get(DEPLOYMENTS).status_code == 200


def test_an_expiry_in_the_past_is_refused_by_the_field(client, owner, organization):
    client.force_login(owner)
    response = create_on_the_page(client, organization, expires_on="2020-01-01")
    assert 'id="errors-expires_on"' in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_only_owners_manage_keys(client, request, organization, api_key, who):
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("api-key-list")).content.decode()
    assert api_key[0].prefix not in page
    assert "Owners of Acme manage its API keys" in page
    assert create_on_the_page(client, organization).status_code == 403
    revoke = reverse("api-key-revoke", args=[api_key[0].pk])
    assert client.post(revoke).status_code == 403
    assert ApiKey.objects.get().revoked_at is None


def test_a_revoked_key_stops_working_and_the_revoke_is_audited(client, owner, api_key):
    key, secret = api_key
    client.force_login(owner)
    assert client.get(reverse("api-key-revoke", args=[key.pk])).status_code == 200
    response = client.post(reverse("api-key-revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert_problem(ApiClient(secret).get(DEPLOYMENTS), 401)
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert event.actor == owner and event.target_id == str(key.pk)
    assert "revoked" in client.get(reverse("api-key-list")).content.decode()


def test_an_expired_key_is_refused(organization, owner):
    _key, secret = make_key(organization, owner, expires_at=timezone.now() - timedelta(1))
    assert_problem(ApiClient(secret).get(DEPLOYMENTS), 401)


def test_a_key_stops_working_when_its_creator_is_deactivated(organization, owner, api_key):
    owner.is_active = False
    owner.save()
    assert_problem(ApiClient(api_key[1]).get(DEPLOYMENTS), 401)


def test_a_key_stops_working_when_its_creator_leaves_the_organization(organization, owner, api_key):
    Membership.objects.filter(user=owner, organization=organization).delete()
    assert_problem(ApiClient(api_key[1]).get(DEPLOYMENTS), 401)


def test_a_member_key_of_a_creator_demoted_to_viewer_reads_but_cannot_write(
    organization, owner, api_key
):
    Membership.objects.filter(user=owner, organization=organization).update(role="viewer")
    api = ApiClient(api_key[1])
    assert api.get(DEPLOYMENTS).status_code == 200
    deployment = make_deployment(organization)
    url = reverse("api-deployment-peerings", kwargs={"id": deployment.pk})
    created = api.post(url, {"peering_id": "pcx-0123456789abcdef0", "vpc_id": "vpc-1"})
    body = assert_problem(created, 403)
    assert "now a viewer" in body["detail"]


def test_finding_a_key_and_its_creators_access_is_one_query(organization, owner, api_key):
    with CaptureQueriesContext(connection) as queries:
        key = keys.key_for_secret(api_key[1])
    assert key is not None and key.can_act
    assert len(queries) == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer ppk_not-a-key", "Basic b2xpdmlhOnB3", "Token ppk_x"],
)
def test_anything_but_a_known_bearer_key_is_401(db, authorization):
    client = ApiClient(**({"Authorization": authorization} if authorization else {}))
    response = client.get(DEPLOYMENTS)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_session_does_not_open_the_api(client, owner):
    client.force_login(owner)
    assert client.get(DEPLOYMENTS).status_code == 401


def test_the_list_shows_the_last_use_time_and_address(client, owner, api_key):
    key, secret = api_key
    ApiClient(secret).get(DEPLOYMENTS)
    key.refresh_from_db()
    assert key.last_used_ip == "127.0.0.1" and key.last_used_at is not None
    client.force_login(owner)
    assert "from 127.0.0.1" in client.get(reverse("api-key-list")).content.decode()


def test_last_use_is_written_once_a_minute_not_on_every_request(api_key):
    key, secret = api_key
    api = ApiClient(secret)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api.get(DEPLOYMENTS).status_code == 200
    updates = [
        q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "api_apikey" in q["sql"]
    ]
    assert len(updates) == 1
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with CaptureQueriesContext(connection) as queries:
        api.get(DEPLOYMENTS)
    # Only the key's own row: the rate limit's counter may be an UPDATE too (core.cache).
    assert sum(q["sql"].startswith("UPDATE") and "api_apikey" in q["sql"] for q in queries) == 1


def test_a_change_made_with_a_key_names_the_key_and_its_maker(api, api_key, deployment, owner):
    from tests.support.factories import make_peering, make_resource

    resource = make_resource(make_peering(deployment, "running"))
    api.delete(reverse("api-resource", kwargs={"id": resource.pk}))
    event = AuditEvent.objects.get(action="resource.deleted")
    assert (event.source, event.actor_id) == ("api", owner.pk)
    assert event.actor_name == f"olivia (API key ci, {api_key[0].prefix}…)"
    assert event.ip == "127.0.0.1" and event.request_id
