"""WXBizMsgCrypt against the vectors Tencent published with its sample code, and the XML
codec against hostile input."""

from __future__ import annotations

import pytest

from app.channels.tencent import payload
from app.channels.tencent.callback import check_fresh, split_text
from app.channels.tencent.crypto import (
    InvalidCiphertext,
    InvalidReceiver,
    InvalidSignature,
    MsgCrypt,
    decode_aes_key,
    sha1_signature,
)
from app.core.errors import Forbidden, PayloadTooLarge

ABC_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# Official Account sample, Java WXBizMsgCryptTest.java (package com.qq.weixin.mp.aes), as
# published by Tencent; copy read at Wyl015/wuyiling
# work-test/src/main/resources/Utils/aes/WXBizMsgCryptTest.java.
OA_JAVA = MsgCrypt(token="pamtest", encoding_aes_key=ABC_KEY, receive_id="wxb11529c136998cb6")
OA_JAVA_RANDOM = "aaaabbbbccccdddd"
OA_JAVA_MSG = "我是中文abcd123"
OA_JAVA_CIPHER = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
OA_JAVA_MSG2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423"
    "</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA["
    "eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title>"
    "<![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]>"
    "</Description></Video></xml>"
)
OA_JAVA_CIPHER2 = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlk"
    "upqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5"
    "nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJuc"
    "QHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92"
    "vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+Rd"
    "xSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8"
    "xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkd"
    "PrEeOwofJb"
)

# Official Account sample, Python Sample.py (Tencent, jonyqin 2014); copy read at
# charlesXu86/Chatbot_CN Chatbot_Web/impl/weixin/Sample.py.
OA_PY = MsgCrypt(token="spamtest", encoding_aes_key=ABC_KEY, receive_id="wx2c2769f8efd9abc2")
OA_PY_REQUEST = {
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "timestamp": "1409735669",
    "nonce": "1320562132",
}
OA_PY_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8"
    "PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jis"
    "a+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6"
    "X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl"
    "9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)

# WeCom (企业微信) sample as first published (token QDG6eK), C# Sample.cs and the Java
# testVerifyUrl; copy read at JeffreySu/WeiXinMPSDK
# src/Senparc.Weixin.MP/Senparc.Weixin.MP/Tencent/Sample.cs.
CORP_OLD = MsgCrypt(
    token="QDG6eK",
    encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    receive_id="wx5823bf96d3bd56c7",
)
CORP_OLD_ECHO = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO"
    "+FZXvnaqQ==",
}
CORP_OLD_REQUEST = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
CORP_OLD_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdC"
    "Upj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4X"
    "gpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+K"
    "qCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XX"
    "ZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHB"
    "ZZIs2pDBS8R07+qN+E7Q=="
)

# WeCom sample as maintained today (Python callback/Sample.py, jonyqin); read at
# sbzhu/weworkapi_python callback/Sample.py.
CORP_NEW = MsgCrypt(
    token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    encoding_aes_key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    receive_id="ww1436e0e65a779aee",
)
CORP_NEW_ECHO = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6"
    "SVHyA==",
}
CORP_NEW_REQUEST = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
}
CORP_NEW_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAg"
    "GzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9"
    "U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qA"
    "RR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL"
    "6aSDPOYuPDGOCI8jmnKiypE+"
)


def _open(crypt: MsgCrypt, request: dict[str, str], encrypted: str) -> dict[str, str]:
    plain = crypt.open(request["msg_signature"], request["timestamp"], request["nonce"], encrypted)
    return payload.parse(plain.encode())


def test_official_account_encryption_matches_the_java_sample() -> None:
    assert OA_JAVA.encrypt(OA_JAVA_MSG, random_prefix=OA_JAVA_RANDOM) == OA_JAVA_CIPHER
    assert OA_JAVA.encrypt(OA_JAVA_MSG2, random_prefix=OA_JAVA_RANDOM) == OA_JAVA_CIPHER2
    assert OA_JAVA.decrypt(OA_JAVA_CIPHER) == OA_JAVA_MSG
    assert OA_JAVA.decrypt(OA_JAVA_CIPHER2) == OA_JAVA_MSG2


def test_official_account_message_from_the_python_sample() -> None:
    fields = _open(OA_PY, OA_PY_REQUEST, OA_PY_ENCRYPT)
    assert fields["ToUserName"] == "gh_10f6c3c3ac5a"
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["Content"] == "abcdteT"
    assert fields["MsgId"] == "6054768590064713728"


def test_wecom_url_verification_vectors() -> None:
    old, new = CORP_OLD_ECHO, CORP_NEW_ECHO
    echo_old = CORP_OLD.open(old["msg_signature"], old["timestamp"], old["nonce"], old["echostr"])
    echo_new = CORP_NEW.open(new["msg_signature"], new["timestamp"], new["nonce"], new["echostr"])
    assert echo_old == "1616140317555161061"
    assert echo_new == "1288432023552776189"


def test_wecom_message_vectors() -> None:
    old = _open(CORP_OLD, CORP_OLD_REQUEST, CORP_OLD_ENCRYPT)
    assert (old["FromUserName"], old["Content"], old["AgentID"]) == ("mycreate", "hello", "218")
    assert old["MsgId"] == "4561255354251345929"
    new = _open(CORP_NEW, CORP_NEW_REQUEST, CORP_NEW_ENCRYPT)
    assert (new["FromUserName"], new["Content"], new["AgentID"]) == (
        "ChenJiaShun",
        "你好",
        "1000002",
    )


def test_tampering_is_refused() -> None:
    req = dict(CORP_NEW_REQUEST)
    with pytest.raises(InvalidSignature):
        CORP_NEW.open("0" * 40, req["timestamp"], req["nonce"], CORP_NEW_ENCRYPT)
    with pytest.raises(InvalidSignature):  # the signature binds the timestamp
        CORP_NEW.open(req["msg_signature"], "1476422780", req["nonce"], CORP_NEW_ENCRYPT)
    with pytest.raises(InvalidSignature):
        CORP_NEW.open("", req["timestamp"], req["nonce"], CORP_NEW_ENCRYPT)
    # A genuine message for another corp (same key and token, other receive id).
    other = MsgCrypt(
        token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        encoding_aes_key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        receive_id="ww0000000000000000",
    )
    with pytest.raises(InvalidReceiver):
        other.open(req["msg_signature"], req["timestamp"], req["nonce"], CORP_NEW_ENCRYPT)


@pytest.mark.parametrize(
    "ciphertext",
    ["not base64!!", "", "QUJD", OA_JAVA_CIPHER[:-4] + "AAA=", "A" * 43 + "="],
)
def test_garbage_ciphertext_is_refused(ciphertext: str) -> None:
    with pytest.raises((InvalidCiphertext, InvalidReceiver)):
        OA_JAVA.decrypt(ciphertext)


def test_round_trip_and_signature() -> None:
    encrypted, sig = OA_JAVA.seal("<xml>你好</xml>", timestamp="1", nonce="2")
    assert sig == sha1_signature("pamtest", "1", "2", encrypted)
    assert OA_JAVA.open(sig, "1", "2", encrypted) == "<xml>你好</xml>"
    assert OA_JAVA.encrypt("x") != OA_JAVA.encrypt("x")  # a fresh random prefix each time


def test_bad_keys_are_refused() -> None:
    for key in ("abcde", "!" * 43):
        with pytest.raises(ValueError):
            decode_aes_key(key)


def test_xml_is_parsed_safely() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&x;</Content></xml>"
    )
    for body in (bomb, external, b"<xml><Content>unclosed</xml>", b"", b"<html></html>"):
        with pytest.raises(payload.MalformedXml):
            payload.parse(body)
    with pytest.raises(PayloadTooLarge):
        payload.parse(b"<xml>" + b"a" * 70_000 + b"</xml>")


def test_rendered_xml_survives_cdata_breakers() -> None:
    nasty = "a]]>b<c>&d"
    assert payload.parse(payload.render({"Content": nasty, "CreateTime": 5}).encode()) == {
        "Content": nasty,
        "CreateTime": "5",
    }


def test_freshness_window() -> None:
    check_fresh("1000", now=1200)
    with pytest.raises(Forbidden) as stale:
        check_fresh("1000", now=1400)
    assert stale.value.code == "stale_request"
    with pytest.raises(Forbidden):
        check_fresh("2000", now=1400)  # from the future beyond the skew


def test_long_answers_are_split_within_limits() -> None:
    text = "\n".join(f"第{i}条：" + "很长的说明" * 40 for i in range(20))
    pieces = split_text(text, max_bytes=1800)
    assert len(pieces) > 1
    assert all(len(p.encode()) <= 1800 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_text("一" * 1000, max_bytes=300) == ["一" * 100] * 10
