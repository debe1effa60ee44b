"""schemathesis against the live OpenAPI document (served by the app itself, called in
process through WSGI): bounded and derandomized, so `make test` stays fast and repeatable.
Every generated request, valid or not, must get an answer the document describes, and
never a 5xx. AWS is the simulator, so a well-formed peering request is checked for real."""

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from tests.support.api import make_key
from tests.support.factories import make_peering, make_resource

pytestmark = pytest.mark.django_db


# A request of the right shape may still be refused for what it says (a peering request
# that AWS does not hold, a resource outside the peering's CIDR): 422 is such a refusal.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
# Loaded once, when the module is collected: the document needs neither a key nor a row.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", get_wsgi_application(), config=CONFIG
)


@pytest.fixture(autouse=True)
def _in_process_requests_keep_the_tests_connection(settings):
    """As Django's test client does: the start and end of a request must not close the
    connection that holds this test's transaction."""
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def rows(aws_deployment, organization, owner):
    """Real IDs for the generated requests to aim at (most random IDs name nothing)."""
    running = make_peering(aws_deployment, "running", n=1)
    failed = make_peering(aws_deployment, "failed", n=2, retryable=True)
    resource = make_resource(running, "orders-db")
    return {
        "secret": make_key(organization, owner)[1],
        "deployments": aws_deployment.pk,
        "peerings": [running.pk, failed.peering_id],
        "resources": resource.pk,
    }


@schema.parametrize()
@hypothesis.settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_the_api_answers_every_request_as_its_schema_says(case, rows):
    kind = case.path.split("/")[3]  # /api/v1/<kind>/...
    generated = (case.path_parameters or {}).get("id")
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if path is not None and path.mode == GenerationMode.POSITIVE and len(str(generated)) % 4:
        # Three in four valid IDs are swapped for a real row's (a random one names none);
        # an invalid ID stays as generated, for the API to refuse.
        real = rows[kind]
        if isinstance(real, list):  # peerings: by our ID or by the pcx- ID
            real = real[len(str(generated)) % 2]
        case.path_parameters["id"] = real
    case.call_and_validate(headers={"Authorization": f"Bearer {rows['secret']}"})
