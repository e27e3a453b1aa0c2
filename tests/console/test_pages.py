"""Every console page renders for the roles that may see it, in both languages, and every
word a template asks for is in prompts/console.yaml."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app.console import i18n
from app.console.models import ConsoleRole
from app.console.web import HERE
from tests.console.support import make_user, sign_in

HTML = {"Accept": "text/html"}


def test_admin_pages_render_in_both_languages(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "ada", ConsoleRole.ADMIN)
    sign_in(client, "ada")
    for lang, word in (("zh", "知识库"), ("en", "Knowledge")):
        client.get(f"/console/lang/{lang}?next=/console/users", follow_redirects=False)
        for path in ("/console/knowledge", "/console/users"):
            page = client.get(path, headers=HTML)
            assert page.status_code == 200, (path, page.text[:300])
            assert word in page.text and f'lang="{"zh-CN" if lang == "zh" else "en"}"' in page.text


def test_every_word_a_template_uses_is_in_the_words_file() -> None:
    used: set[str] = set()
    for path in list((HERE / "templates").rglob("*.html")):
        used |= set(re.findall(r"t\('([a-z_.0-9]+)'", path.read_text()))
    missing = {k for k in used if not k.endswith(".") and k not in i18n.words()}
    assert not missing
    for key, entry in i18n.words().items():
        assert set(entry) == {"zh", "en"}, key


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (HERE / "static" / "console.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        ("fg", "bg"),
        ("muted", "bg"),
        ("accent", "bg"),
        ("error", "bg"),
        ("ok", "bg"),
        ("warn", "bg"),
        ("fg", "panel"),
        ("muted", "panel"),
        ("accent", "panel"),
        ("accent-fg", "accent"),
    ]
    for text, background in pairs:
        hi, lo = sorted((_luminance(colours[text]), _luminance(colours[background])), reverse=True)
        assert (hi + 0.05) / (lo + 0.05) >= 4.5, (text, background)
