"""Builders for real files of each format, made in memory so tests need no binary fixtures."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import docx
from pypdf import PdfReader, PdfWriter

PAGE_WIDTH, PAGE_HEIGHT = 595, 842


@dataclass(frozen=True)
class PdfText:
    """One line of text at (x, y) points; font "F1" Helvetica, "F2" Helvetica-Bold, "F3" CJK."""

    x: float
    y: float
    size: float
    text: str
    font: str = "F1"


def make_pdf(pages: list[list[PdfText]], *, title: str | None = None) -> bytes:
    """A minimal but valid PDF with a text layer; CJK text uses a Type0 font whose CIDs are
    the Unicode code points, mapped back by a ToUnicode CMap, so no font file is needed."""
    cjk = sorted({ch for page in pages for item in page if item.font == "F3" for ch in item.text})
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree exists
    pages_obj = add(b"")
    helvetica = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    cmap_lines = [
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange",
        f"{len(cjk)} beginbfchar".encode(),
        *(f"<{ord(ch):04X}> <{ord(ch):04X}>".encode() for ch in cjk),
        b"endbfchar endcmap CMapName currentdict /CMap defineresource pop end end",
    ]
    cmap = b"\n".join(cmap_lines)
    to_unicode = add(b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    descendant = add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong /CIDToGIDMap /Identity "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>"
    )
    cjk_font = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (descendant, to_unicode)
    )
    resources = b"/Font << /F1 %d 0 R /F2 %d 0 R /F3 %d 0 R >>" % (helvetica, bold, cjk_font)
    page_ids = []
    for page in pages:
        ops = []
        for item in page:
            if item.font == "F3":
                shown = b"<" + "".join(f"{ord(ch):04X}" for ch in item.text).encode() + b">"
            else:
                escaped = item.text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                shown = b"(" + escaped.encode("cp1252") + b")"
            ops.append(
                b"BT /%s %.1f Tf 1 0 0 1 %.1f %.1f Tm %s Tj ET"
                % (item.font.encode(), item.size, item.x, item.y, shown)
            )
        content = b"\n".join(ops)
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << %s >> "
                b"/Contents %d 0 R >>" % (pages_obj, PAGE_WIDTH, PAGE_HEIGHT, resources, stream)
            )
        )
    kids = b" ".join(b"%d 0 R" % pid for pid in page_ids)
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    info = add(b"<< /Title (%s) >>" % title.encode()) if title else None

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def encrypt_pdf(data: bytes, *, user_password: str, owner_password: str = "owner") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    # RC4 needs no optional crypto dependency, unlike AES.
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_with_zeros(member: str, size: int) -> bytes:
    """A zip whose one member inflates to ``size`` zero bytes, written in pieces so building
    a large bomb needs no large buffer."""
    out = io.BytesIO()
    block = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(member, "w", force_zip64=True) as handle,
    ):
        remaining = size
        while remaining > 0:
            handle.write(block[: min(remaining, len(block))])
            remaining -= len(block)
    return out.getvalue()
