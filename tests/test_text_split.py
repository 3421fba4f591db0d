"""Splitting long answers for Telegram's 4096-character limit without cutting sentences."""

from __future__ import annotations

import pytest

from bot.channels.text import split_text, utf16_length


def test_short_text_stays_whole() -> None:
    assert split_text("Hallo!\n\nWie geht es?", 4096) == ["Hallo!\n\nWie geht es?"]


def test_long_text_breaks_at_paragraphs_first() -> None:
    paragraphs = [f"Absatz {i}: " + "Wort " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_text(text, 4096)
    assert len(parts) > 1
    assert all(utf16_length(p) <= 4096 for p in parts)
    for part in parts:  # every part starts at a paragraph's beginning
        assert part.startswith("Absatz ")
    assert "\n\n".join(parts) == text


def test_a_single_long_paragraph_breaks_between_sentences() -> None:
    sentence = "Die Anhörung beim BAMF ist der wichtigste Termin im Verfahren. "
    text = (sentence * 100).strip()
    parts = split_text(text, 1000)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_arabic_question_marks_end_sentences() -> None:
    text = ("هل تحتاج إلى مساعدة في طلب اللجوء؟ " * 80).strip()
    parts = split_text(text, 500)
    assert all(p.endswith("؟") for p in parts)


@pytest.mark.parametrize("limit", [7, 64, 4096])
def test_nothing_is_lost_even_without_any_boundary(limit: int) -> None:
    text = "x" * 10_000
    parts = split_text(text, limit)
    assert "".join(parts) == text
    assert all(len(p) <= limit for p in parts)


def test_emoji_count_as_two_units_as_telegram_counts_them() -> None:
    parts = split_text("😀" * 3000, 4096)
    assert [utf16_length(p) for p in parts] == [4096, 1904]
