"""peering_portal/urls.py as demo mode builds it. The suite's settings load with DEMO_MODE
off, as production's do; the `demo_mode` fixture turns it on and points ROOT_URLCONF here,
where the very same file runs again, now with the demo's URLs included. (Run from its path,
not imported: the module peering_portal.urls itself must stay as production builds it.)"""

import runpy

from django.conf import settings

from tests.support.env import ROOT

assert settings.DEMO_MODE, "only for the demo_mode fixture, which turns DEMO_MODE on first"
URLS_FILE = ROOT / "peering_portal" / "urls.py"
urlpatterns = runpy.run_path(str(URLS_FILE))["urlpatterns"]
