"""The sensitive-word filter: folding, Chinese and English matching, masking, loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.config import ChannelSettings, Settings
from app.moderation import (
    SensitiveWordFilter,
    check,
    default_words_path,
    load_filter,
    words_path,
)
from app.moderation.service import REPO_ROOT, parse


@pytest.fixture
def words() -> SensitiveWordFilter:
    return SensitiveWordFilter(["傻逼", "刷单返利", "VPN翻墙", "scam", "kill you", "ＡＢＣ"])


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("你是傻逼", "傻逼"),
        ("你是傻 逼", "傻逼"),  # a space inserted
        ("你是傻*逼！", "傻逼"),  # punctuation inserted
        ("刷🙂单返·利", "刷单返利"),  # an emoji and a middle dot inserted
        ("vpn翻墙", "VPN翻墙"),
        ("ＶＰＮ 翻墙", "VPN翻墙"),  # full-width Latin letters
        ("This is a SCAM!", "scam"),
        ("Ｓｃａｍ", "scam"),
        ("I will KILL   you", "kill you"),  # case and repeated spaces
        ("abc", "ＡＢＣ"),  # a full-width entry matches half-width text
        ("诈骗scam链接", "scam"),  # Chinese around an English word is a boundary
    ],
)
def test_matches(words: SensitiveWordFilter, text: str, word: str) -> None:
    assert [m.word for m in words.find(text)] == [word]


@pytest.mark.parametrize(
    "text",
    ["scampi for dinner", "a scammer", "skill you have", "傻瓜", "刷单", "我要退款", ""],
)
def test_does_not_match(words: SensitiveWordFilter, text: str) -> None:
    assert words.find(text) == []


def test_mask_keeps_everything_else(words: SensitiveWordFilter) -> None:
    assert words.mask("你是傻 逼，this is a Scam.") == "你是* *，this is a ****."
    assert words.mask("ＦＯＯ ＡＢＣ") == "ＦＯＯ ***"
    assert words.mask("nothing here") == "nothing here"


def test_spans_point_into_the_original_text(words: SensitiveWordFilter) -> None:
    text = "前缀ＳＣＡＭ后缀刷 单 返 利"
    spans = [(m.word, text[m.start : m.end]) for m in words.find(text)]
    assert spans == [("scam", "ＳＣＡＭ"), ("刷单返利", "刷 单 返 利")]


def test_verdict(words: SensitiveWordFilter) -> None:
    verdict = check("scam 傻逼 scam", word_filter=words)
    assert verdict.flagged and verdict.words == ("scam", "傻逼")
    assert verdict.masked == "**** ** ****"
    clean = check("hello", word_filter=words)
    assert not clean.flagged and clean.words == () and clean.masked == "hello"


def test_empty_list_matches_nothing() -> None:
    empty = SensitiveWordFilter(["", "   ", "！？"])
    assert len(empty) == 0 and empty.find("傻逼 scam") == []


def test_parse_skips_comments_and_blank_lines() -> None:
    assert parse("# head\n\n  word one \n  # indented comment\n词\n") == ["word one", "词"]


def test_load_once_and_reload_on_change(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("alpha\n", encoding="utf-8")
    first = load_filter(path)
    assert load_filter(path) is first  # cached: not read twice
    path.write_text("alpha\nbeta\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_filter(path)
    assert second is not first and second.flagged("beta")
    with pytest.raises(FileNotFoundError):
        load_filter(tmp_path / "missing.txt")


def test_words_path_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def settings(path: Path | None) -> Settings:
        return Settings(channels=ChannelSettings(_env_file=None, sensitive_words_file=path))

    assert words_path(settings(None)) == default_words_path()
    assert default_words_path() == REPO_ROOT / "prompts" / "sensitive_words.txt"
    absolute = tmp_path / "mine.txt"
    assert words_path(settings(absolute)) == absolute
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.txt").write_text("x\n", encoding="utf-8")
    assert words_path(settings(Path("local.txt"))) == Path("local.txt")  # the working dir
    assert words_path(settings(Path("prompts/other.txt"))) == REPO_ROOT / "prompts/other.txt"


def test_the_starter_list() -> None:
    starter = load_filter(default_words_path())
    assert len(starter) >= 50
    for bad in ["你他妈的会不会办事", "有刷单返利的兼职吗", "哪里能买到冰毒", "fuck you", "约炮吗"]:
        assert starter.flagged(bad), bad
    # Everyday support conversations must pass untouched (false positives anger customers).
    for fine in [
        "我的账单怎么多扣了60块？",
        "怎么开发票？发票抬头能改吗",
        "我要投诉你们的快递，太慢了",
        "验证码收不到怎么办",
        "退款什么时候到账？",
        "积分可以转赠他人吗",
        "My parcel was lost, I want a refund",
        "Can I pass my plan to my son?",
        "Is this SMS a scam? It asks for my password",
        "帮我查一下国际漫游的资费",
        "手机卡丢了怎么补办",
        "银行卡扣款失败",
    ]:
        assert not starter.flagged(fine), (fine, [m.word for m in starter.find(fine)])
