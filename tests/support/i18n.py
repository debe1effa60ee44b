"""A translation for a test, without the project's catalog: the zh_Hans catalog is built
elsewhere, and a test of rendering must not depend on what it holds today."""

from contextlib import contextmanager
from unittest import mock

from django.utils.translation import trans_real

LANGUAGE = "zh-hans"


@contextmanager
def translated(entries, language=LANGUAGE):
    """Within the block, `language` translates each English message of `entries` (msgid →
    translation) as given; everything else as its catalog does."""
    catalog = trans_real.translation(language)
    original = catalog.gettext

    def gettext(message):
        return entries.get(message) or original(message)

    with mock.patch.object(catalog, "gettext", gettext):
        yield
