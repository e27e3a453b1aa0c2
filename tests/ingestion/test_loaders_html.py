"""HTML loader: main content only, headings as paths, tables as rows."""

from __future__ import annotations

from ingestion.loaders import load

BOILERPLATE = [
    "TOPNAV-LINK",
    "SITE-HEADER-LOGO",
    "SIDEBAR-LINK",
    "BREADCRUMB-TRAIL",
    "FOOTER-COPYRIGHT",
    "COOKIE-NOTICE",
    "SCRIPT-TEXT",
    "STYLE-TEXT",
    "SEARCH-BUTTON",
    "WAS-THIS-HELPFUL",
]

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Payments - Help Centre</title>
<style>.x{content:"STYLE-TEXT"}</style><script>var s = "SCRIPT-TEXT";</script></head>
<body>
<header class="site-header"><a class="logo">SITE-HEADER-LOGO</a>
  <nav><a href="/">TOPNAV-LINK</a></nav>
  <form><input name=q><button>SEARCH-BUTTON</button></form></header>
<div class="breadcrumb">BREADCRUMB-TRAIL</div>
<div class="layout">
<aside class="sidebar"><a>SIDEBAR-LINK</a></aside>
<main>
<h1>Payments</h1>
<p>Bills are issued on the 3rd
   of each month.</p>
<h2>Channels</h2>
<table><thead><tr><th>Channel</th><th>Arrives</th></tr></thead>
<tbody><tr><td>App</td><td>Instantly</td></tr><tr><td>Bank<br>transfer</td><td>1 day</td></tr>
</tbody></table>
<h3>Direct debit</h3>
<ol><li>Sign up in the app.</li><li>Debits run on the 10th.</li></ol>
<ul><li>No fee.</li></ul>
<div class="helpful">WAS-THIS-HELPFUL</div>
<h2>退款</h2>
<p>余额可以
原路退回。</p>
</main></div>
<div id="cookie-banner">COOKIE-NOTICE</div>
<footer>FOOTER-COPYRIGHT</footer>
</body></html>"""


def test_main_content_without_boilerplate() -> None:
    doc = load(PAGE.encode(), "payments.html")
    everything = "\n".join(
        section.text + " ".join(section.heading_path) for section in doc.sections
    )
    for marker in BOILERPLATE:
        assert marker not in everything
    assert doc.title == "Payments"
    assert [(s.heading_path, s.is_table, s.text) for s in doc.sections] == [
        (("Payments",), False, "Bills are issued on the 3rd of each month."),
        (
            ("Payments", "Channels"),
            True,
            "Channel | Arrives\nApp | Instantly\nBank transfer | 1 day",
        ),
        (
            ("Payments", "Channels", "Direct debit"),
            False,
            "1. Sign up in the app.\n2. Debits run on the 10th.\n- No fee.",
        ),
        # A source line break between two CJK characters is not a space.
        (("Payments", "退款"), False, "余额可以原路退回。"),
    ]


def test_page_without_main_element_falls_back_to_body() -> None:
    page = (
        "<html><body><div class='nav-menu'>MENU-ITEM</div>"
        "<div class='has-sidebar page'><h1>Roaming</h1><p>Switch roaming on in the app.</p>"
        "<div class='social-share'>SHARE-LINK</div></div></body></html>"
    )
    doc = load(page.encode(), "roaming.htm")
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (("Roaming",), "Switch roaming on in the app.")
    ]


def test_charset_from_meta_tag() -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
    page += "</head><body><h1>发票</h1><p>电子发票24小时内推送。</p></body></html>"
    doc = load(page.encode("gbk"), "invoice.html")
    assert doc.sections[0].heading_path == ("发票",)
    assert doc.sections[0].text == "电子发票24小时内推送。"


def test_title_falls_back_to_title_element() -> None:
    page = "<html><head><title>Only a title</title></head><body><p>Body text.</p></body></html>"
    doc = load(page.encode(), "t.html")
    assert doc.title == "Only a title"
    assert doc.sections[0].heading_path == ()


def test_nested_lists_are_indented() -> None:
    page = (
        "<main><h1>Steps</h1><ol><li>Open the app<ul><li>Android</li><li>iOS</li></ul></li>"
        "<li>Pay</li></ol></main>"
    )
    doc = load(page.encode(), "steps.html")
    assert doc.sections[0].text == "1. Open the app\n  - Android\n  - iOS\n2. Pay"


def test_deeply_nested_markup_does_not_exhaust_the_stack() -> None:
    page = "<body>" + "<div><span>" * 5000 + "deep text" + "</span></div>" * 5000 + "</body>"
    doc = load(page.encode(), "deep.html")
    assert doc.sections[0].text == "deep text"
