"""A small bilingual city-library knowledge base (not the dev set's domain), as files."""

from __future__ import annotations

from pathlib import Path

BORROWING = """# 借阅规则

## 借阅数量与期限
普通图书每张读者证最多借10册，借期30天。到期前可在官网或自助机上续借2次，每次延长15天。

## 逾期与赔偿
逾期归还的图书每册每天收取滞纳金0.2元，单册最高20元。图书遗失或严重损坏的，按定价的2倍赔偿。
"""

CARD = """# Library Card Guide

## Applying for a card
Residents aged 16 and over can apply at any service desk with a valid ID card. The card is
free of charge and is printed on the spot.

## Lost or damaged cards
Report a lost card on the website at once, so that nobody else can borrow with it. A
replacement card costs 15 yuan and keeps your loans and borrowing history.
"""

PRINTING = """# Printing, Copying and Scanning

Self-service printers stand on every floor. Black-and-white A4 pages cost 0.5 yuan each and
colour pages 2 yuan each; pay with the balance on your library card or by mobile payment.
Scanning to e-mail or to a USB stick is free.
"""

STUDY_ROOMS = """# 自习室使用说明

## 预约方式
自习室需在官网或公众号预约，最多可提前3天预约，每次最长使用4小时，迟到30分钟未签到自动取消。

## 开放时间
周一至周五8:00–22:00开放；周末和法定节假日9:00–18:00开放，周末名额紧张，需至少提前一天预约。
"""

CHILDREN = """# 少儿阅览区

## 入场须知
12岁以下的儿童须由家长陪同入场，家长可使用亲子阅读座位，区内禁止饮食。

## 开放时间
周二至周五14:00–18:00开放；周末9:00–17:00开放，周末上午10点有绘本故事会。每周一闭馆整理。
"""

FAQ = (
    "question,answer,alt_questions\n"
    "图书可以续借几次？,可以在到期前续借2次，每次延长15天。,书能续借吗|借的书怎么续期\n"
    'Can I return books at any branch?,"Yes, at any branch or at the 24-hour return box.",'
    "where can I return a book|do I have to return books to the same branch\n"
)

DOCUMENTS = {
    "borrowing-rules.md": BORROWING,
    "library-card.md": CARD,
    "printing.md": PRINTING,
    "study-rooms.md": STUDY_ROOMS,
    "childrens-area.md": CHILDREN,
    "faq.csv": FAQ,
}


def write(folder: Path, names: list[str] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(DOCUMENTS):
        path = folder / name
        path.write_text(DOCUMENTS[name], encoding="utf-8")
        paths.append(path)
    return paths
