"""PDF loader: pages, font-size headings, running headers, CJK joins, encryption, damage."""

from __future__ import annotations

import pytest

from ingestion.loaders import ParseError, load
from tests.ingestion.fixtures import PdfText, encrypt_pdf, make_pdf


def _guide() -> bytes:
    return make_pdf(
        [
            [
                PdfText(400, 800, 8, "ACME Help - Refund Guide"),
                PdfText(50, 760, 18, "Refund Guide", "F2"),
                PdfText(50, 730, 13, "1. Eligibility", "F2"),
                PdfText(50, 710, 10, "Refunds are possible within 30 days of pur-"),
                PdfText(50, 696, 10, "chase if the item is unused."),
                PdfText(50, 670, 13, "2. 退款流程", "F3"),
                PdfText(50, 650, 10, "请在App中提交退款申请，我们会在三个", "F3"),
                PdfText(50, 636, 10, "工作日内处理。", "F3"),
                PdfText(290, 40, 8, "Page 1"),
            ],
            [
                PdfText(400, 800, 8, "ACME Help - Refund Guide"),
                PdfText(50, 760, 10, "Refunds go back to the original card."),
                PdfText(50, 730, 13, "3. Exceptions", "F2"),
                PdfText(50, 710, 10, "Plan", "F2"),
                PdfText(200, 710, 10, "Refundable", "F2"),
                PdfText(50, 695, 10, "Gift card"),
                PdfText(200, 695, 10, "No"),
                PdfText(50, 680, 10, "Subscription"),
                PdfText(200, 680, 10, "Pro rata"),
                PdfText(290, 40, 8, "Page 2"),
            ],
        ],
        title="Refund Guide (metadata)",
    )


def test_pages_headings_and_line_joins() -> None:
    doc = load(_guide(), "guide.pdf")
    assert doc.title == "Refund Guide (metadata)"
    assert [(s.heading_path, s.page, s.is_table, s.text) for s in doc.sections] == [
        (
            ("Refund Guide", "1. Eligibility"),
            1,
            False,
            "Refunds are possible within 30 days of purchase if the item is unused.",
        ),
        (
            ("Refund Guide", "2. 退款流程"),
            1,
            False,
            "请在App中提交退款申请，我们会在三个工作日内处理。",
        ),
        # The section runs on across the page break, under the same heading.
        (("Refund Guide", "2. 退款流程"), 2, False, "Refunds go back to the original card."),
        (
            ("Refund Guide", "3. Exceptions"),
            2,
            True,
            "Plan | Refundable\nGift card | No\nSubscription | Pro rata",
        ),
    ]


def test_placeholder_metadata_title_gives_way_to_the_first_heading() -> None:
    page = [PdfText(50, 760, 18, "Real Title", "F2"), PdfText(50, 730, 10, "Body text.")]
    doc = load(make_pdf([page], title="Microsoft Word - draft3.docx"), "x.pdf")
    assert doc.title == "Real Title"


def test_wrapped_heading_is_one_heading_and_empty_sections_stay_apart() -> None:
    page = [
        PdfText(50, 760, 16, "A heading long enough that it", "F2"),
        PdfText(50, 742, 16, "wraps onto a second line", "F2"),
        PdfText(50, 720, 10, "Body under the long heading, long enough to outweigh headings."),
        PdfText(50, 690, 16, "Empty section", "F2"),
        PdfText(50, 650, 16, "Next section", "F2"),
        PdfText(50, 630, 10, "Body of the next section, also long enough to count as the body."),
    ]
    doc = load(make_pdf([page]), "x.pdf")
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (
            ("A heading long enough that it wraps onto a second line",),
            "Body under the long heading, long enough to outweigh headings.",
        ),
        (("Next section",), "Body of the next section, also long enough to count as the body."),
    ]


def test_running_header_and_page_numbers_are_dropped() -> None:
    text = "\n".join(section.text for section in load(_guide(), "guide.pdf").sections)
    assert "ACME Help" not in text
    assert "Page 1" not in text and "Page 2" not in text


def test_pdf_without_size_differences_is_one_section_per_page() -> None:
    data = make_pdf(
        [[PdfText(50, 700, 10, "First page text.")], [PdfText(50, 700, 10, "Second page text.")]]
    )
    doc = load(data, "plain.PDF")
    assert [(s.heading_path, s.page, s.text) for s in doc.sections] == [
        ((), 1, "First page text."),
        ((), 2, "Second page text."),
    ]


def test_encrypted_pdf_is_refused() -> None:
    data = encrypt_pdf(_guide(), user_password="secret")
    with pytest.raises(ParseError, match="PDF is encrypted"):
        load(data, "locked.pdf")


def test_pdf_with_only_an_owner_password_is_read() -> None:
    data = encrypt_pdf(_guide(), user_password="")
    doc = load(data, "restricted.pdf")
    assert doc.sections[0].heading_path == ("Refund Guide", "1. Eligibility")


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nthis is not really a pdf\n%%EOF", b"plain garbage bytes", b""],
)
def test_corrupt_pdf_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ParseError, match="PDF") as caught:
        load(data, "broken.pdf")
    assert str(caught.value)


def test_truncated_pdf_is_refused() -> None:
    data = _guide()
    with pytest.raises(ParseError):
        load(data[: len(data) // 3], "truncated.pdf")


def test_pdf_without_text_layer() -> None:
    with pytest.raises(ParseError, match="no text"):
        load(make_pdf([[]]), "scan.pdf")
