"""Admin upload → eager Celery pipeline → Milvus Lite, seen through the admin API and search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docx

from tests.ingestion.fixtures import docx_bytes

POLICY_V1 = "# 退货政策\n\n## 无理由退货\n\n未拆封商品签收后7天内可无理由退货，运费由买家承担。\n"
POLICY_V2 = "# 退货政策\n\n## 无理由退货\n\n未拆封商品签收后30天内可无理由退货，运费由商家承担。\n"
FAQ = (
    "question,answer,alt_questions\n"
    "How long does shipping take?,Orders ship within 2 days and arrive in 3-5 days.,"
    "when will my parcel arrive|delivery time\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
)


def _files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, data)) for name, data in items]


def _docs(admin: Callable[..., Any], kb: str) -> dict[str, dict[str, Any]]:
    resp = admin("get", f"/admin/knowledge-bases/{kb}/documents")
    assert resp.status_code == 200
    return {d["name"]: d for d in resp.json()}


def _search(admin: Callable[..., Any], kb: str, query: str, **kw: Any) -> list[dict[str, Any]]:
    resp = admin("post", f"/admin/knowledge-bases/{kb}/search", json={"query": query, **kw})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["hits"])


def test_kb_crud(admin: Callable[..., Any], kb: str) -> None:
    listed = admin("get", "/admin/knowledge-bases").json()
    assert [k["name"] for k in listed] == ["shop"]
    kb_id = listed[0]["id"]
    assert admin("get", f"/admin/knowledge-bases/{kb_id}").json()["name"] == "shop"
    assert listed[0]["embedding_dim"] > 0 and listed[0]["embedding_model"]
    dup = admin("post", "/admin/knowledge-bases", json={"name": "shop"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
    missing = admin("get", "/admin/knowledge-bases/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_not_found"
    assert admin("delete", "/admin/knowledge-bases/shop").status_code == 204
    assert admin("get", "/admin/knowledge-bases").json() == []


def test_upload_index_replace_delete(
    admin: Callable[..., Any], kb: str, drain: Callable[[], None]
) -> None:
    docx = make_docx_policy()
    resp = admin(
        "post",
        f"/admin/knowledge-bases/{kb}/documents",
        files=_files(
            ("returns.md", POLICY_V1.encode()), ("faq.csv", FAQ.encode()), ("sim.docx", docx)
        ),
    )
    assert resp.status_code == 202, resp.text
    results = resp.json()["results"]
    assert [r["document"]["status"] for r in results] == ["queued"] * 3
    assert all(r["job"]["status"] == "queued" and not r["duplicate"] for r in results)
    drain()

    docs = _docs(admin, kb)
    assert {n: d["status"] for n, d in docs.items()} == {
        "returns.md": "ready",
        "faq.csv": "ready",
        "sim.docx": "ready",
    }
    assert docs["faq.csv"]["chunk_count"] == 2 and docs["returns.md"]["chunk_count"] >= 1
    job = admin("get", f"/admin/jobs/{results[0]['job']['id']}").json()
    assert job["status"] == "succeeded" and job["chunk_count"] == docs["returns.md"]["chunk_count"]

    hits = _search(admin, kb, "未拆封的东西几天内能退")
    assert hits[0]["source"] == "returns.md" and "7天" in hits[0]["content"]
    assert hits[0]["heading_path"] == ["退货政策", "无理由退货"]
    faq_hits = _search(admin, kb, "when does my order arrive", kind="faq")
    assert faq_hits[0]["source"] == "faq.csv" and "3-5 days" in faq_hits[0]["content"]

    # Same bytes again: a no-op.
    again = admin(
        "post",
        f"/admin/knowledge-bases/{kb}/documents",
        files=_files(("returns.md", POLICY_V1.encode())),
    ).json()["results"][0]
    assert again["duplicate"] is True and again["job"] is None

    # Replace: version 2 indexed, version 1 gone from search.
    resp = admin(
        "post",
        f"/admin/knowledge-bases/{kb}/documents",
        files=_files(("returns.md", POLICY_V2.encode())),
    )
    assert resp.json()["results"][0]["document"]["version"] == 2
    drain()
    doc = _docs(admin, kb)["returns.md"]
    assert (doc["status"], doc["version"], doc["indexed_version"]) == ("ready", 2, 2)
    contents = [
        h["content"] for h in _search(admin, kb, "无理由退货 几天") if h["source"] == "returns.md"
    ]
    assert contents and all("30天" in c and "7天" not in c for c in contents)

    # Delete: gone from the list and from search.
    assert admin("delete", f"/admin/knowledge-bases/{kb}/documents/returns.md").status_code == 204
    assert "returns.md" not in _docs(admin, kb)
    assert all(h["source"] != "returns.md" for h in _search(admin, kb, "无理由退货 几天"))
    assert admin("get", f"/admin/knowledge-bases/{kb}/documents/returns.md").status_code == 404


def make_docx_policy() -> bytes:
    document = docx.Document()
    document.add_heading("补办SIM卡", level=1)
    document.add_paragraph("SIM卡丢失后，请携带本人身份证到营业厅补办，工本费10元。")
    return docx_bytes(document)


def test_bad_uploads_change_nothing(
    admin: Callable[..., Any], kb: str, drain: Callable[[], None]
) -> None:
    url = f"/admin/knowledge-bases/{kb}/documents"
    resp = admin("post", url, files=_files(("a.md", b"# ok\n\ntext"), ("virus.exe", b"MZ...")))
    assert resp.status_code == 415
    err = resp.json()["error"]
    assert ".pdf" in err["message"] and ".docx" in err["message"]
    resp = admin("post", url, files=_files(("empty.txt", b"")))
    assert resp.status_code == 422 and "empty" in resp.json()["error"]["message"]
    resp = admin("post", url, data={"note": "no files"})
    assert resp.status_code == 422
    assert _docs(admin, kb) == {}

    resp = admin("post", "/admin/knowledge-bases/ghost/documents", files=_files(("a.md", b"x")))
    assert resp.status_code == 404


def test_oversized_upload_is_413(admin: Callable[..., Any], kb: str, client: Any) -> None:
    client.app.state.runtime.settings.ingestion.max_upload_bytes = 1000
    resp = admin(
        "post", f"/admin/knowledge-bases/{kb}/documents", files=_files(("big.txt", b"x" * 2000))
    )
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    assert _docs(admin, kb) == {}


def test_broken_files_fail_alone_with_a_reason(
    admin: Callable[..., Any], kb: str, drain: Callable[[], None]
) -> None:
    resp = admin(
        "post",
        f"/admin/knowledge-bases/{kb}/documents",
        files=_files(
            ("broken.pdf", b"%PDF-1.4 this is not really a pdf"),
            ("fake.docx", b"not a zip at all"),
            ("bad.csv", b"title,body\nhello,world\n"),
            ("../../etc/good.md", b"# Shipping\n\nWe ship worldwide."),
        ),
    )
    assert resp.status_code == 202
    drain()
    docs = _docs(admin, kb)
    assert set(docs) == {"broken.pdf", "fake.docx", "bad.csv", "good.md"}
    assert docs["good.md"]["status"] == "ready"
    for name in ("broken.pdf", "fake.docx", "bad.csv"):
        assert docs[name]["status"] == "failed" and docs[name]["error"], name
    assert "zip" in docs["fake.docx"]["error"].lower()
    assert "question" in docs["bad.csv"]["error"]
    # A failed document can be fixed by uploading again, even though the bytes are the same.
    retry = admin(
        "post",
        f"/admin/knowledge-bases/{kb}/documents",
        files=_files(("bad.csv", b"title,body\nhello,world\n")),
    ).json()["results"][0]
    assert retry["duplicate"] is False and retry["job"] is not None


def test_reindex_and_model_mismatch(
    admin: Callable[..., Any], kb: str, drain: Callable[[], None], db_session: Any
) -> None:
    admin("post", f"/admin/knowledge-bases/{kb}/documents", files=_files(("faq.csv", FAQ.encode())))
    drain()
    from knowledge.models import KnowledgeBase

    row = db_session.query(KnowledgeBase).filter_by(name=kb).one()
    row.embedding_model = "some-other-model"
    db_session.commit()
    resp = admin("post", f"/admin/knowledge-bases/{kb}/search", json={"query": "invoice"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "reindex_required"

    resp = admin("post", f"/admin/knowledge-bases/{kb}/reindex")
    assert resp.status_code == 202 and len(resp.json()["jobs"]) == 1
    drain()
    doc = _docs(admin, kb)["faq.csv"]
    assert (doc["status"], doc["version"], doc["chunk_count"]) == ("ready", 2, 2)
    assert _search(admin, kb, "发票怎么开")[0]["source"] == "faq.csv"
