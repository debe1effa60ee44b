"""The REST API as the tests use it: keys made the way the API keys page makes them, and
a client that sends one as `Authorization: Bearer`."""

from urllib.parse import urlencode

from django.test import Client

from api import keys

PROBLEM_JSON = "application/problem+json"


def make_key(organization, user, role="member", name="ci", **fields):
    """(key, secret): a key of `organization`, made by `user`."""
    return keys.create_key(
        organization, name=name, role=role, expires_at=fields.get("expires_at"), user=user
    )


class ApiClient:
    """Django's test client speaking JSON with a key."""

    def __init__(self, secret=None, **headers):
        self.client = Client()
        self.headers = dict(headers)
        if secret:
            self.headers["Authorization"] = f"Bearer {secret}"

    def call(self, method, url, json=None, headers=None):
        kwargs = {"headers": {**self.headers, **(headers or {})}}
        if json is not None:
            kwargs.update(data=json, content_type="application/json")
        return getattr(self.client, method)(url, **kwargs)

    def get(self, url, params=None, **kwargs):
        if params:
            url = f"{url}?{urlencode(params)}"
        return self.call("get", url, **kwargs)

    def post(self, url, json=None, **kwargs):
        return self.call("post", url, json=json if json is not None else {}, **kwargs)

    def patch(self, url, json=None, **kwargs):
        return self.call("patch", url, json=json, **kwargs)

    def delete(self, url, **kwargs):
        return self.call("delete", url, **kwargs)


def assert_problem(response, status):
    """`response` is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:peering-portal:problem:")
    assert body["title"] and body["detail"]
    return body
