from django.conf import settings


def portal(request):
    return {"VENDOR_NAME": settings.VENDOR_NAME, "DEMO_MODE": settings.DEMO_MODE}
