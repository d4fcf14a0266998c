"""Names as people write them: capitals, lower case and generational suffixes, undone before a model
reads the name, so that 'SMITH', 'smith', 'Smith' and 'Smith Jr' are one name to it.

The tutorial's files write every name in title case ('Dostoevsky', 'De luca', "O'Brien"), so a name
in capitals is a string no model has seen: `canonical_case` writes it the usual way, while a name
that mixes cases ('McDonald', 'DeVito', 'van der Berg') says something by it and is kept as it is.
"""

from __future__ import annotations

import re
from functools import cache

# Words of a name are put in title case one by one, so hyphenated and spaced names keep their parts.
_WORD_BREAK = re.compile(r"([\s,\-]+)")
# A suffix follows a space of any kind (a no-break space when pasted) or a comma ('Smith, Jr.').
_BREAK = re.compile(r"[\s,]")
_LAST_WORD = re.compile(r"[\s,]+([^\s,]+)[\s,]*$")


def canonical_case(text: str) -> str:
    """'SMITH' -> 'Smith', 'dostoevsky' -> 'Dostoevsky', "o'neill" -> "O'Neill"; in a name that
    mixes cases, only its words in capitals change ('Jean DUPONT' -> 'Jean Dupont'), and
    'McDonald', 'DeVito' and 'van der Berg' stay as written.

    >>> [canonical_case(n) for n in ("GARCÍA-MÁRQUEZ", "van der Berg", "SMITH Jr", "佐藤")]
    ['García-Márquez', 'van der Berg', 'Smith Jr', '佐藤']
    """
    # 'ß' has no capital of its own, so 'STRAUß' is a name in capitals too.
    if text.replace("ß", "").isupper() or text.islower():  # both False without cased letters
        return text.title()
    if text[1:].islower():  # 'Smith', 'De luca': the common case, at once
        return text
    return "".join(_title_if_capitals(part) for part in _WORD_BREAK.split(text))


def _title_if_capitals(word: str) -> str:
    # One capital is an initial ('J'), not a word in capitals.
    return word.title() if word.isupper() and sum(c.isalpha() for c in word) > 1 else word


@cache
def _suffixes() -> frozenset[str]:
    # nameparser keeps the generational suffixes of many languages (Jr, III, júnior, младший, 二世),
    # with a few honorifics (さん, 様, 씨) that say as little of a language. Its acronyms (MA, MD) are
    # left out, since 'Ma' is also a surname, and so are 양 and 군, which are also Korean surnames.
    from nameparser.config import CONSTANTS

    return frozenset(CONSTANTS.suffix_not_acronyms) - {"양", "군"}


def without_suffix(text: str) -> str:
    """The name without trailing generational suffixes, which tell nothing of its language:
    'Smith Jr' -> 'Smith', 'Ford III' -> 'Ford', 'Smith, Jr.' -> 'Smith'; a lone word is kept.

    >>> [without_suffix(n) for n in ("Smith Jr", "Ford III", "Smith, Jr.", "Jr", "Kim Il")]
    ['Smith', 'Ford', 'Smith', 'Jr', 'Kim Il']
    """
    if not _BREAK.search(text):  # a one-word name, the common case, at once
        return text
    suffixes = _suffixes()
    while (last := _LAST_WORD.search(text)) and last.group(1).lower().rstrip(".") in suffixes:
        text = text[: last.start()]
    return text


def normalise(text: str) -> str:
    """What a model reads of a name as written: without generational suffixes, in canonical case."""
    return canonical_case(without_suffix(text))
