"""Portuguese person names by rule, offline: spaCy's English model misses most of them.

Two rules, both needing a capitalised word: a common Brazilian or Portuguese first name (IBGE
census top names and their Portuguese counterparts) with the capitalised surnames and particles
(da, de, do, dos, das, e) after it; or any capitalised run after a cue that introduces a person
("meu nome é", "me chamo", "Sr.", "Dra.", "falei com"). What they miss: a name not on the list
and without a cue ("o Kleberson mandou"), a name written in lower case, and a first name that
is also a common word at the start of a sentence ("Vitória", "Glória") is taken as a name.
"""

from __future__ import annotations

import re
from typing import Iterator

FIRST_NAMES = frozenset("""
Maria José Ana João Antônio Antonio Francisco Carlos Paulo Pedro Lucas Luiz Luís Luis Marcos
Gabriel Rafael Daniel Marcelo Bruno Eduardo Felipe Raimundo Rodrigo Manoel Manuel Mateus Matheus
André Fernando Fábio Fabio Leonardo Gustavo Guilherme Leandro Tiago Thiago Anderson Ricardo
Márcio Marcio Jorge Sebastião Alexandre Roberto Edson Diego Vitor Victor Sérgio Sergio Cláudio
Claudio Renato Adriano Alessandro Rogério Rogerio Juliano Henrique Miguel Arthur Artur Heitor
Davi Bernardo Samuel Enzo Benjamin Nicolas Lorenzo Joaquim Vinícius Vinicius Otávio Caio Igor
Wellington Washington Wagner Jefferson Everton Cristiano Reinaldo Ronaldo Romário Raul Rui Nuno
Duarte Tomás Tomas Gonçalo Afonso Rodrigues Francisca Antônia Antonia Adriana Juliana Márcia
Marcia Fernanda Patrícia Patricia Aline Sandra Camila Amanda Bruna Jéssica Jessica Letícia
Leticia Júlia Julia Luciana Vanessa Mariana Gabriela Vera Vitória Larissa Cláudia Claudia
Beatriz Luana Rita Sônia Sonia Renata Eliane Josefa Simone Natália Natalia Cristina Carla
Débora Debora Rosângela Rosangela Jaqueline Rosa Daniela Aparecida Raimunda Luzia Alice Sophia
Sofia Helena Valentina Laura Isabella Isabela Manuela Lívia Livia Heloísa Heloisa Lorena
Cecília Cecilia Giovanna Lara Yasmin Rebeca Clara Marta Tânia Tania Lúcia Lucia Regina Silvana
Priscila Tatiana Viviane Fabiana Michele Carolina Paula Raquel Sabrina Inês Ines Leonor Matilde
Joana Teresa Teresinha Conceição Graça Fátima Fatima Glória Irene Lourdes Neide Célia Celia
""".split())

_UPPER = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UPPER}][a-zß-öø-ÿ]+"
_PARTICLE = r"(?:d[aeo]s?|e)"
_SURNAMES = rf"(?:\s+(?:{_PARTICLE}\s+)?{_WORD})*"
_FIRST = "|".join(sorted(FIRST_NAMES, key=len, reverse=True))
_KNOWN = re.compile(rf"(?<![\w@.])(?:{_FIRST}){_SURNAMES}(?![\w@])")
_CUE = re.compile(
    rf"(?i:\b(?:meu nome é|me chamo|chamo-me|eu sou [oa]|falei com [oa]?|conversei com [oa]?"
    rf"|ligue para [oa]?)\s+|\b(?:Sr|Sra|Srta|Dr|Dra|Prof|Profa)\.?\s+|\b(?:Dona|Seu)\s+)"
    rf"(?P<name>{_WORD}{_SURNAMES})"
)


def portuguese_names(text: str) -> Iterator[tuple[int, int]]:
    """Character spans of likely person names in ``text`` (may overlap; callers merge)."""
    for match in _KNOWN.finditer(text):
        yield match.span()
    for match in _CUE.finditer(text):
        yield match.span("name")
