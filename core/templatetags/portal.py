"""The console's template tags: the header's navigation, the breadcrumbs, relative times."""

from datetime import UTC

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import get_language, pgettext

register = template.Library()

# Dates and times as each language writes them (Django's own formats for English are
# "Dec. 1, 2026, 2:42 a.m.", which our people and tests read as ISO dates instead). Python
# format strings, not Django's date formats: pages write two times on each of hundreds of
# rows, and Django's formatter was about 5 % of such a page (cProfile, 500 rows).
DATE_PATTERNS = {
    "en": {
        "date": "{0:%Y-%m-%d}",
        "minute": "{0:%Y-%m-%d %H:%M}",
        "second": "{0:%Y-%m-%d %H:%M:%S}",
    },
    "zh-hans": {
        "date": "{0.year}年{0.month}月{0.day}日",
        "minute": "{0.year}年{0.month}月{0.day}日 {0:%H:%M}",
        "second": "{0.year}年{0.month}月{0.day}日 {0:%H:%M:%S}",
    },
}


def _pattern(precision):
    language = (get_language() or "en").lower()
    patterns = DATE_PATTERNS.get(language) or DATE_PATTERNS.get(language.split("-")[0])
    return (patterns or DATE_PATTERNS["en"])[precision]


@register.filter
def local_date(moment):
    """The day, in the reader's language (and the site's time zone)."""
    return _pattern("date").format(localtime(moment))


@register.filter
def utc_time(moment, precision="minute"):
    """A time in UTC written the reader's way, the zone named: "2026-11-30 14:05 UTC",
    "2026年11月30日 14:05 UTC". `precision`: "minute" or "second"."""
    return f"{_pattern(precision).format(localtime(moment, UTC))} UTC"


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
    utc = utc_time(moment)
    return format_html(
        '<time datetime="{}" title="{}" data-utc="{}" tabindex="0">{}</time>',
        moment.isoformat(),
        utc,
        utc,
        naturaltime(moment),
    )


@register.simple_tag
def html_lang():
    """The page's language as a BCP 47 tag for <html lang>: Django's "zh-hans" is "zh-Hans"."""
    first, *rest = (get_language() or "en").split("-")
    return "-".join([first, *(part.title() if len(part) == 4 else part.upper() for part in rest)])


@register.simple_tag
def code_list(items):
    """Values as <code> elements, listed the reader's way: "a, b" or "a，b"."""
    return format_html_join(
        pgettext("between listed values", ", "), "<code>{}</code>", ((i,) for i in items)
    )
