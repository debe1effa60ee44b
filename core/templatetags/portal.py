"""The console shell's template tags: the header's navigation and the breadcrumbs."""

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join

register = template.Library()

# Each header link and the URL names of the pages under it.
SECTIONS = {
    "deployment-list": ("deployment-", "peering-", "resource-"),
    "audit-log": ("audit-",),
    "webhook-list": ("webhook-",),
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
