"""The API answers in English whatever language the request asks for: programs read its
problems. The console's pages for it (the keys, the documentation) speak the reader's."""

import pytest
from django.urls import reverse

from tests.support.api import ApiClient, assert_problem
from tests.support.factories import make_peering

pytestmark = pytest.mark.django_db

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


def test_a_refusal_asked_for_in_chinese_is_in_english(api_key, deployment):
    peering = make_peering(deployment, "pending")
    api = ApiClient(api_key[1], **CHINESE)
    url = reverse("api-deployment-resources", kwargs={"id": deployment.pk})
    body = {"name": "", "kind": "mysql", "host": "172.16.1.10", "port": 99999}
    response = api.post(url, {**body, "peering": peering.pk})
    problem = assert_problem(response, 422)
    assert problem["title"] == "Unprocessable Content"
    assert problem["errors"]["name"] == ["This field is required."]
    assert problem["errors"]["port"] == ["Ensure this value is less than or equal to 65535."]
    assert response["Content-Language"] == "en"


def test_drfs_own_messages_asked_for_in_chinese_are_in_english(api_key):
    unauthenticated = assert_problem(ApiClient(**CHINESE).get("/api/v1/deployments/"), 401)
    assert unauthenticated["detail"] == "Authentication credentials were not provided."
    not_allowed = ApiClient(api_key[1], **CHINESE).call("put", "/api/v1/deployments/")
    assert assert_problem(not_allowed, 405)["detail"] == 'Method "PUT" not allowed.'
