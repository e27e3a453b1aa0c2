"""HTML: the main content of a help-centre page, without navigation, chrome and widgets."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ingestion.loaders.blocks import SectionBuilder, collapse_spaces
from ingestion.loaders.encoding import decode_text
from ingestion.loaders.models import ParsedDocument

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")

_ALWAYS_DROP = (
    "script, style, noscript, template, svg, canvas, iframe, object, embed, form, button, "
    "input, select, textarea, dialog, nav, aside, footer, [hidden], [aria-hidden=true], "
    "[role=navigation], [role=banner], [role=contentinfo], [role=complementary], "
    "[role=search], [role=menu], [role=menubar], [role=dialog]"
)
_BOILERPLATE_WORDS = frozenset(
    """nav navbar navigation menu menubar sidebar breadcrumb breadcrumbs crumbs footer
    cookie cookies consent gdpr banner masthead share sharing social feedback
    helpful rating related recommended pagination pager toolbar skip advert ads
    advertisement sponsor popup modal newsletter subscribe toc""".split()  # noqa: SIM905
)
_SPLIT_WORDS = re.compile(r"[\s_-]+")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset(
    """address article blockquote body dd details div dl dt fieldset figcaption figure
    header hgroup hr li main ol p pre section summary ul caption center""".split()  # noqa: SIM905
)
_KEEP = frozenset({"html", "body", "main", "article"})
# Source newlines are mere whitespace in HTML; only <br> breaks a line, so it gets a marker
# that cannot occur in text.
_BREAK = "\x00"


def load_html(data: bytes) -> ParsedDocument:
    meta = _META_CHARSET.search(data[:4096])
    text = decode_text(data, declared=meta.group(1).decode("ascii") if meta else None)
    tree = LexborHTMLParser(_XML_DECLARATION.sub("", text))
    title_node = tree.css_first("title")
    page_title = collapse_spaces(title_node.text()) if title_node is not None else ""

    body = tree.body
    builder = SectionBuilder()
    if body is not None:
        _remove(body.css(_ALWAYS_DROP))
        root = _main_content(body)
        _remove(_boilerplate(root))
        _Walker(builder).walk(root)
    sections = builder.finish()
    return ParsedDocument(
        sections=sections, faq_pairs=[], title=builder.first_heading or page_title or None
    )


def _main_content(body: LexborNode) -> LexborNode:
    """The element holding the article, when the page marks one and it is not a stub."""
    for selector in ("main", "[role=main]", "article", "#content", "#main", ".content"):
        candidates = body.css(selector)
        if candidates:
            best = max(candidates, key=lambda node: len(node.text()))
            if len(best.text(strip=True)) * 4 >= len(body.text(strip=True)):
                return best
    return body


def _boilerplate(root: LexborNode) -> list[LexborNode]:
    """Site chrome recognised by its class, id, or a header without the article's heading.

    A class word alone is weak evidence ("has-sidebar" on a layout wrapper), so an element
    that holds a top-level heading or most of the text is kept regardless.
    """
    total = len(root.text(strip=True)) or 1
    found = []
    for node in root.css("*"):
        if node.tag in _KEEP or node.mem_id == root.mem_id:
            continue
        if node.tag == "header":
            if node.css_first("h1, h2") is None:
                found.append(node)
            continue
        words = _SPLIT_WORDS.split(f"{node.attributes.get('class') or ''} {node.id or ''}")
        if (
            _BOILERPLATE_WORDS.intersection(word.lower() for word in words)
            and node.css_first("h1") is None
            and len(node.text(strip=True)) * 2 < total
        ):
            found.append(node)
    return found


def _remove(nodes: list[LexborNode]) -> None:
    # Only the outermost ones: decomposing a node frees its descendants, and touching a
    # freed node afterwards would crash the interpreter.
    doomed = {node.mem_id for node in nodes}
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.mem_id not in doomed:
            parent = parent.parent
        if parent is None:
            node.decompose()


class _Walker:
    """Turns block elements into lines and headings into path changes.

    The walk uses an explicit stack: generated pages can nest elements thousands deep,
    which would exhaust Python's recursion limit.
    """

    def __init__(self, builder: SectionBuilder) -> None:
        self._builder = builder
        self._inline: list[str] = []
        self._prefix = ""
        # (ordered, items so far) for each open <ul>/<ol>, innermost last.
        self._lists: list[tuple[bool, int]] = []

    def walk(self, root: LexborNode) -> None:
        stack: list[tuple[bool, LexborNode]] = [(False, root)]
        while stack:
            leaving, node = stack.pop()
            if leaving:
                self._leave(node)
            elif node is root or self._enter(node):
                stack.append((True, node))
                children = list(node.iter(include_text=True))
                stack.extend((False, child) for child in reversed(children))
        self._flush()

    def _enter(self, node: LexborNode) -> bool:
        """Handle an element on the way down; True when its children are still to be walked."""
        tag = node.tag or ""
        if node.is_text_node:
            self._inline.append(node.text_content or "")
            return False
        if tag == "br":
            self._inline.append(_BREAK)
            return False
        if tag in _HEADINGS:
            self._flush()
            self._builder.heading(_HEADINGS[tag], node.text())
            return False
        if tag == "table" and not _is_layout_table(node):
            self._flush()
            self._builder.table(
                [_cell_text(cell) for cell in row.css("th, td")] for row in node.css("tr")
            )
            return False
        if tag == "pre":
            self._flush()
            self._builder.lines(node.text().splitlines())
            return False
        if tag in ("ul", "ol"):
            self._flush()
            self._lists.append((tag == "ol", 0))
            return True
        if tag == "li":
            self._flush()
            marker = "- "
            if self._lists:
                ordered, count = self._lists[-1]
                self._lists[-1] = (ordered, count + 1)
                marker = f"{count + 1}. " if ordered else marker
            self._prefix = "  " * max(len(self._lists) - 1, 0) + marker
            return True
        if tag in _BLOCKS or tag == "table":
            self._flush()
        return node.is_element_node

    def _leave(self, node: LexborNode) -> None:
        tag = node.tag or ""
        if tag in ("ul", "ol"):
            self._flush()
            if self._lists:
                self._lists.pop()
        elif tag in _BLOCKS or tag == "table":
            self._flush()

    def _flush(self) -> None:
        pieces = "".join(self._inline).split(_BREAK)
        self._inline = []
        lines = [collapse_spaces(piece) for piece in pieces]
        lines = [line for line in lines if line]
        if lines:
            lines[0] = self._prefix + lines[0]
            self._prefix = ""
            self._builder.lines(lines)


def _is_layout_table(table: LexborNode) -> bool:
    # css() matches the node itself too, hence "more than one table".
    return len(table.css("table")) > 1 or table.css_first("h1, h2, h3, h4, h5, h6") is not None


def _cell_text(cell: LexborNode) -> str:
    return collapse_spaces(cell.text(separator=" "))
