import pytest
from django.urls import reverse

from tests.support.factories import add_peerings_with_resources, make_deployment
from tests.support.web import detail_url, queries_for

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_the_login_page(client, deployment):
    for url in (reverse("deployment-list"), detail_url(deployment)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_logs_in_and_out(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw-olivia"})
    assert response.status_code == 302
    assert client.get(reverse("deployment-list")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # logging out is a POST
    client.post(reverse("logout"))
    assert client.get(reverse("deployment-list")).status_code == 302


def test_it_lists_only_the_users_own_deployments(client, owner, deployment, outsider):
    foreign = make_deployment(outsider.memberships.get().organization, name="not-yours")
    client.force_login(owner)
    page = client.get(reverse("deployment-list")).content.decode()
    assert deployment.name in page
    assert foreign.name not in page


def test_an_outsider_gets_404_for_another_organizations_deployment(client, deployment, outsider):
    client.force_login(outsider)
    response = client.get(detail_url(deployment))
    assert response.status_code == 404


def test_the_detail_page_refuses_post(client, owner, deployment):
    client.force_login(owner)
    response = client.post(detail_url(deployment))
    assert response.status_code == 405


def test_it_shows_the_deployment_network(client, viewer, deployment):
    client.force_login(viewer)
    page = client.get(detail_url(deployment)).content.decode()
    for value in (deployment.region, deployment.vpc_id, deployment.cidr):
        assert value in page


@pytest.mark.parametrize("plan", ["free_trial", "shared"])
def test_it_says_peering_is_unavailable_on_free_and_shared_plans(client, owner, organization, plan):
    deployment = make_deployment(organization, name=plan, plan=plan)
    client.force_login(owner)
    page = client.get(detail_url(deployment)).content.decode()
    assert "VPC peering is not available" in page
    assert "+ VPC Peering Connection" not in page


def test_it_serves_htmx_from_the_app_and_sends_csrf_with_htmx(client, owner, deployment):
    client.force_login(owner)
    page = client.get(detail_url(deployment)).content.decode()
    assert "/static/django_htmx/htmx" in page or "htmx.min.js" in page
    assert "unpkg.com" not in page and "cdn" not in page.lower()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


def test_it_escapes_what_customers_typed(client, owner, organization):
    deployment = make_deployment(organization, name="<script>alert(1)</script>")
    client.force_login(owner)
    page = client.get(detail_url(deployment)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_deployment_page_runs_a_fixed_number_of_queries(client, owner, deployment):
    client.force_login(owner)
    url = detail_url(deployment)
    add_peerings_with_resources(deployment, 1)
    few, _ = queries_for(client, url)
    add_peerings_with_resources(deployment, 49)
    many, _ = queries_for(client, url)
    assert few == many
    assert many <= 6


def test_the_deployment_page_queries_do_not_grow_with_peerings_and_resources(
    client, owner, deployment
):
    client.force_login(owner)
    url = detail_url(deployment)
    add_peerings_with_resources(deployment, 1)
    few, _ = queries_for(client, url)
    add_peerings_with_resources(deployment, 29)
    many, response = queries_for(client, url)
    page = response.content.decode()
    assert page.count('class="peering-row"') == 30
    assert page.count('<tr id="resource-') == 30
    assert few == many


def test_the_deployment_list_runs_a_fixed_number_of_queries(client, owner, organization):
    client.force_login(owner)
    make_deployment(organization, name="d0")
    few, _ = queries_for(client, reverse("deployment-list"))
    for n in range(1, 30):
        make_deployment(organization, name=f"d{n}")
    assert queries_for(client, reverse("deployment-list"))[0] == few
