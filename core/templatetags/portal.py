"""The console's template tags: the header's navigation, the breadcrumbs, relative times."""

from datetime import UTC

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

register = template.Library()

# Each header link and the URL names of the pages under it.
SECTIONS = {
    "deployment-list": ("deployment-", "peering-", "resource-"),
    "audit-log": ("audit-",),
    "webhook-list": ("webhook-",),
    "api-key-list": ("api-key-",),
}


@register.simple_tag(takes_context=True)
def nav_link(context, url_name, label):
    """A header link, marked as the current page or as the section the page is in."""
    url = reverse(url_name)
    match = getattr(context.get("request"), "resolver_match", None)
    current = ""
    if match and match.url_name == url_name:
        current = "page"
    elif match and (match.url_name or "").startswith(SECTIONS.get(url_name, ())):
        current = "true"
    if current:
        return format_html('<a href="{}" aria-current="{}">{}</a>', url, current, label)
    return format_html('<a href="{}">{}</a>', url, label)


@register.simple_tag
def breadcrumbs(*trail):
    """{% breadcrumbs "Deployments" deployments_url deployment.name %}: label and URL pairs
    from the top down, then the current page's label."""
    *links, current = trail
    return format_html(
        '<nav aria-label="Breadcrumb"><ol class="breadcrumbs">{}'
        '<li><span aria-current="page">{}</span></li></ol></nav>',
        format_html_join(
            "", '<li><a href="{}">{}</a></li>', zip(links[1::2], links[::2], strict=True)
        ),
        current,
    )


@register.simple_tag
def relative_time(moment):
    """A time as people read it ("3 minutes ago"), with the UTC time on hover and, through
    CSS, on keyboard focus. A tag, not an include: pages show it twice on each of hundreds
    of rows, and an include per use cost a large share of such a page's time."""
    utc = f"{localtime(moment, UTC):%Y-%m-%d %H:%M} UTC"
    return format_html(
        '<time datetime="{}" title="{}" data-utc="{}" tabindex="0">{}</time>',
        moment.isoformat(),
        utc,
        utc,
        naturaltime(moment),
    )
