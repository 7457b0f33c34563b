"""Hard strings for WordPiece parity tests: scripts, accents, emoji, control characters, etc."""

from __future__ import annotations

import random

HAND_PICKED = [
    # plain text and punctuation
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It's a dog's life; isn't it?",
    "e-mail me at someone@example.com or visit https://example.org/a?b=c&d=e#f",
    "Prices: $5.99, €3,50, £10 and ¥1000 (approx.)",
    "1234567890 3.14159 1e-10 -42 +7",
    "def f(x): return x ** 2  # comment",
    "C'était « magnifique » — vraiment…",
    'She said "yes"... then ‘no’.',
    "snake_case CamelCase kebab-case SCREAMING_CASE",
    # accents, precomposed and decomposed
    "café naïve résumé Ångström Øresund Þór façade coöperate",
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m",
    "São Paulo, Zürich, Kraków, Łódź, İstanbul, Ærøskøbing",
    "ÉCOLE ÉLÉMENTAIRE À PARIS",
    "n\u0303 a\u0300\u0301\u0302\u0303 o\u0328\u0304 combining marks",
    "ﬁ ﬂ ligatures and ｆｕｌｌｗｉｄｔｈ letters",
    # scripts
    "我爱北京天安门",
    "BERT是一个预训练语言模型，由Google提出。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 텍스트입니다",
    "Привет, мир! Ёлка и йод.",
    "Καλημέρα κόσμε, ΑΒΓΔ",
    "مرحبا بالعالم",
    "שלום עולם",
    "สวัสดีชาวโลก",
    "नमस्ते दुनिया",
    "Tiếng Việt có dấu",
    "𠀀𠀁 rare CJK extension B characters",
    # emoji
    "I love it 😀😀😀",
    "thumbs 👍🏽 up",
    "family 👨\u200d👩\u200d👧\u200d👦 zwj",
    "flags 🇫🇷🇩🇪🇯🇵",
    "keycap 1\ufe0f\u20e3 and ❤\ufe0f",
    "🤖🚀✨",
    # control and zero-width characters
    "tab\tseparated\tvalues",
    "line one\nline two\r\nline three\rline four",
    "null\x00byte and bell\x07 and escape\x1b[31mred\x1b[0m",
    "zero\u200bwidth\u200cnon\u200djoiner",
    "\ufeffbyte order mark at start",
    "word\u2060joiner and soft\u00adhyphen",
    "replacement \ufffd character",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    "\x01\x02\x03\x04\x05",
    "\u200b\u200b\u200b",
    "directional \u202eoverride\u202c marks \u200f",
    "private use \ue000\uf8ff",
    # special tokens typed as text
    "[MASK]",
    "[SEP]",
    "[CLS] the cat [SEP] sat [PAD] on [UNK] the [MASK] .",
    "Paris is the [MASK] of France.",
    "x[MASK]y [SEP][SEP]",
    "[mask] [Mask] [ MASK ] [MASK",
    "##ing ##s ## #",
    # long words
    "a" * 99,
    "a" * 100,
    "a" * 101,
    "b" * 250,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "x" + "é" * 120,
    # empty and whitespace
    "",
    " ",
    "   ",
    "\n\t \r",
    "\u3000\u00a0",
    "\u200b",
    # over 512 tokens
    "word " * 600,
    "The quick brown fox. " * 150,
    "一二三四五六七八九十" * 60,
]

# Characters the random strings are made of, weighted towards the hard cases above.
CHARACTER_POOL = (
    list("abcdefghijklmnopqrstuvwxyz")
    + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    + list("0123456789")
    + list(" " * 12)
    + list(".,;:!?'\"()[]{}<>@#$%^&*-_=+/\\|~`")
    + list("éèêëàâäîïôöùûüçñÉÀÖß")
    + ["e\u0301", "a\u0308", "o\u0302", "\u0327"]
    + list("中文字符测试我爱你日本語한국어")
    + list("абвгдежзийклмнопрстуфхцчшщыэюя")
    + ["😀", "👍🏽", "🇫🇷", "❤\ufe0f", "👨\u200d👩\u200d👧"]
    + ["\t", "\n", "\r", "\x00", "\x07", "\x1b", "\u200b", "\u200c", "\u200d", "\ufeff"]
    + ["\u00a0", "\u3000", "\ufffd", "\u00ad"]
)
FRAGMENTS = ["[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "##ing", "don't", "U.S.A.", "http://x.y"]


def random_strings(count: int, seed: int = 0) -> list[str]:
    """`count` reproducible random strings mixing the character pool and special fragments."""
    rng = random.Random(seed)
    strings = []
    for _ in range(count):
        length = rng.choice([1, 2, 5, 10, 30, 80, 200])
        parts = []
        for _ in range(length):
            if rng.random() < 0.05:
                parts.append(f" {rng.choice(FRAGMENTS)} ")
            else:
                parts.append(rng.choice(CHARACTER_POOL))
        strings.append("".join(parts))
    return strings


def all_cases(random_count: int = 160) -> list[str]:
    return HAND_PICKED + random_strings(random_count)
