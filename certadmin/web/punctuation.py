"""The marks that join translated pieces, in the active language.

A message put together from parts (a label and its text, a list of names, a sentence ending
after a loop) takes its punctuation from here, so Chinese pages get Chinese marks (、 ： 。)
and English pages ASCII ones. Templates ask for the same catalog entries with
``{% translate ", " context "list separator" %}``, ``{% translate ": " context "label
separator" %}`` and ``{% translate "." context "sentence end" %}``.
"""

from collections.abc import Iterable

from django.utils.translation import pgettext


def list_separator() -> str:
    """Between the items of a list inside a sentence: ", " in English, "、" in Chinese."""
    return pgettext("list separator", ", ")


def label_separator() -> str:
    """Between a label and what it labels: ": " in English, "：" in Chinese."""
    return pgettext("label separator", ": ")


def sentence_end() -> str:
    """After a sentence built from parts: "." in English, "。" in Chinese."""
    return pgettext("sentence end", ".")


def items_join(items: Iterable[str]) -> str:
    """``items`` as one list inside a sentence, in the active language."""
    return list_separator().join(items)


def label_join(*, label: str, text: str) -> str:
    """``text`` labelled with ``label``, in the active language."""
    return f"{label}{label_separator()}{text}"
