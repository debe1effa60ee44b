"""English left in a page that should be Chinese: runs of two or more English words in
what a reader sees or hears (text, and the labels, titles and placeholders read aloud), once
the allowed English is taken out: IDs, CIDRs and commands (in <code> and <pre>), the AWS
console's names (the seed keeps them in English), product names."""

import html
import re

# As the seed writes them, or what the AWS console and its forms call things.
AWS_CONSOLE_NAMES = [
    "Amazon Web Services",
    "Networking & Content Delivery",
    "Create Peering Connection",
    "VPC Peering Connection",
    "Peering Connection",
    "Requester VPC owner",
    "Requester VPC ID",
    "Route Tables",
    "Security Groups",
    "Edit routes",
    "Add route",
    "Edit inbound rules",
    "Add rule",
    "Another account",
    "This region",
    "Custom TCP",
    "VPC (Accepter)",
    "AWS CLI",
    "Account ID",
    "Peering ID",
    "VPC ID",
]
PRODUCT_NAMES = ["HTTP server", "MySQL", "PostgreSQL", "MongoDB"]

_HIDDEN = re.compile(r"<(script|style|pre|code)\b[^>]*>.*?</\1>", re.S | re.I)
_READ_ALOUD = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"')
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[ \t\n]+[A-Za-z][A-Za-z'’]*)+")


def english_sentences(page, allowed=()):
    """The runs of English words a Chinese reader would meet on `page` (HTML)."""
    body = page[page.find("<body") :] if "<body" in page else page
    body = _HIDDEN.sub(" ", body)
    spoken = " | ".join(_READ_ALOUD.findall(body))
    text = re.sub(r"<[^>]+>", " | ", body) + " | " + spoken
    text = html.unescape(text)
    for name in sorted([*AWS_CONSOLE_NAMES, *PRODUCT_NAMES, *allowed], key=len, reverse=True):
        text = text.replace(name, " | ")
    return [" ".join(run.split()) for run in _WORDS.findall(text)]
