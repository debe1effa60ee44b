"""The portal's pages as the tests read them: htmx requests, error lists next to fields, and
the number of queries a page runs."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

HTMX = {"HTTP_HX_REQUEST": "true"}


def detail_url(deployment):
    return reverse("deployment-detail", args=[deployment.pk])


def errors_of(page, field):
    """The text of the error list shown next to `field`, or None when there is none."""
    match = re.search(rf'<ul class="errorlist" id="errors-{field}">(.*?)</ul>', page, re.S)
    return match.group(1) if match else None


def queries_for(client, url):
    """(how many database queries a GET of `url` runs, the response), a 200."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response
