"""The Chinese catalog is complete and current: every message translated and none fuzzy,
nothing in the code that makemessages would add, the seed's words where the seed puts them,
and the committed .mo (what the portal reads: no gettext on a fresh machine) matching the .po."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

from tests.support.catalog import MO, PO, catalog, entry_key, freshly_extracted

PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d|%%")


def test_every_message_is_translated():
    untranslated = [entry.msgid for entry in catalog().untranslated_entries()]
    assert untranslated == [], f"{len(untranslated)} untranslated: {untranslated[:10]}"


def test_no_message_is_fuzzy():
    fuzzy = [entry.msgid for entry in catalog().fuzzy_entries()]
    assert fuzzy == [], f"fuzzy: {fuzzy[:10]}"
    assert not catalog().metadata_is_fuzzy


def test_no_message_is_obsolete():
    assert [entry.msgid for entry in catalog().obsolete_entries()] == []


def test_every_translation_keeps_the_placeholders_of_its_message():
    for entry in catalog().translated_entries():
        expected = set(PLACEHOLDER.findall(entry.msgid + (entry.msgid_plural or "")))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for translation in translations:
            assert set(PLACEHOLDER.findall(translation)) == expected, (
                f"{entry.msgid!r} → {translation!r}"
            )


def test_makemessages_finds_no_message_the_catalog_lacks(tmp_path):
    committed = {entry_key(entry) for entry in catalog() if not entry.obsolete}
    fresh = {entry_key(entry) for entry in freshly_extracted(tmp_path) if not entry.obsolete}
    assert sorted(fresh - committed, key=str) == [], "run makemessages and translate them"
    assert sorted(committed - fresh, key=str) == [], "messages no longer in the code"


def test_the_committed_mo_says_what_the_po_says():
    def translations(entries):
        return {
            entry_key(entry): (
                entry.msgstr
                if not entry.msgid_plural
                else dict(sorted(entry.msgstr_plural.items()))
            )
            for entry in entries
            if entry.msgid
        }

    compiled = polib.mofile(str(MO))
    assert translations(compiled) == translations(catalog().translated_entries()), (
        f"recompile {MO.name}: manage.py compilemessages -l zh_Hans"
    )


@pytest.mark.parametrize(
    ("context", "english", "chinese"),
    [
        (None, "VPC peering connections", "VPC 对等连接"),
        (None, "Notes", "注意事项"),
        (None, "Delete", "删除"),
        (None, "Resources", "资源"),
        (None, "Confirm", "确认"),
        (
            None,
            "VPC peerings and resources are bound together: create the VPC peering before "
            "the resources that use it.",
            "对等连接与资源相互绑定，创建资源前请先创建对等连接。",
        ),
    ],
)
def test_the_seeds_words_are_the_translations(context, english, chinese):
    entry = catalog().find(english, msgctxt=context)
    assert entry is not None and entry.msgstr == chinese


def test_aws_console_names_stay_in_english_inside_chinese_sentences():
    """As the seed writes them: what the customer must find in the AWS console. (Our own
    button, "+ VPC Peering Connection", is ours to translate.)"""
    names = [
        "Peering Connection",
        "Create Peering Connection",
        "Requester VPC owner",
        "Route Tables",
        "Security Groups",
    ]
    # The sentences that walk the customer through AWS: the console's words they name.
    for entry in (entry for entry in catalog() if "AWS" in entry.msgid):
        for marked in re.findall(r"<(?:em|strong)>([^<]*)</", entry.msgid):
            # Case and plural as the seed writes them ("Peering Connection").
            kept = marked.lower().removesuffix("s") in entry.msgstr.lower()
            assert kept or not marked[:1].isupper(), f"{marked} lost in {entry.msgstr!r}"
    chinese = " ".join(entry.msgstr for entry in catalog())
    for name in names:
        assert name in chinese


def test_the_catalog_is_where_settings_look():
    assert PO.parents[2] in [Path(path) for path in settings.LOCALE_PATHS]
