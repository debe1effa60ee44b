import json

from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound

from ops import health, metrics


def _json(body, status=200):
    response = HttpResponse(json.dumps(body), content_type="application/json", status=status)
    response["Cache-Control"] = "no-store"
    return response


def healthz(request):
    return _json(health.liveness())


def readyz(request):
    ready, checks = health.readiness()
    return _json({"status": "ok" if ready else "failing", "checks": checks}, 200 if ready else 503)


def metrics_view(request):
    if not metrics.allowed(request):
        return HttpResponseNotFound()
    body, content_type = metrics.render()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


ENDPOINTS = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


class OperationsEndpointsMiddleware:
    """Answers /healthz, /readyz and /metrics before any other middleware. Load balancers and
    Prometheus call a process by its address, over plain HTTP, with no session: the host
    check (ALLOWED_HOSTS), the HTTPS redirect and login must not stand in their way. None of
    these answers builds a URL from the Host header, so skipping the host check is safe."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        endpoint = ENDPOINTS.get(request.path_info)
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return endpoint(request)
