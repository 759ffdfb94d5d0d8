"""Render each item's text from a template over its columns.

An item whose referenced fields are all empty has no text: its rendered string is "" (so
the encoder masks it out) even though the template's literal words ("Genres:") would
otherwise make a non-empty string that is not a real feature.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

from fusionrec.errors import ConfigError

_SPACES = re.compile(r"\s+")


def default_template(text_fields: list[str]) -> str:
    """All text fields joined with '. ' in dataset order."""
    return ". ".join(f"{{{f}}}" for f in text_fields)


def template_fields(template: str) -> list[str]:
    """Column names a template refers to, in order of appearance, without duplicates."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise ConfigError(f"features.text.template {template!r}: {exc}") from None
    if not names:
        raise ConfigError(f"features.text.template {template!r} refers to no item field")
    if any(not n.isidentifier() for n in names):
        raise ConfigError(
            f"features.text.template {template!r}: use plain field names like {{title}}"
        )
    return list(dict.fromkeys(names))


def field_strings(items: pd.DataFrame, field: str) -> pd.Series:
    """A column as stripped strings; NaN/None and list-like values handled, missing -> ''."""
    col = items[field]
    as_text = col.map(_to_text)
    return as_text.str.replace(_SPACES, " ", regex=True).str.strip()


def _to_text(value: object) -> str:
    """A cell as text; every pandas and numpy spelling of a missing value is "" (a nullable
    string column's pd.NA would otherwise be embedded as the text "<NA>")."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(_to_text(v) for v in value if _to_text(v))
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating) and np.isnan(value):
        return ""
    return str(value)


def render_texts(items: pd.DataFrame, template: str) -> tuple[list[str], dict[str, float]]:
    """Rendered text per item ("" when every referenced field is empty) and field coverage.

    Coverage is the fraction of items with a non-empty value for each referenced field.
    """
    fields = template_fields(template)
    missing = [f for f in fields if f not in items.columns]
    if missing:
        raise ConfigError(
            f"features.text.template refers to {missing}, which are not item columns; "
            f"available: {sorted(map(str, items.columns))}"
        )
    values = {f: field_strings(items, f) for f in fields}
    nonempty = {f: (v != "").to_numpy() for f, v in values.items()}
    any_present = np.logical_or.reduce([nonempty[f] for f in fields])
    columns = [values[f].tolist() for f in fields]
    texts = []
    for row, present in zip(zip(*columns, strict=True), any_present.tolist(), strict=True):
        if not present:
            texts.append("")
            continue
        text = template.format_map(dict(zip(fields, row, strict=True)))
        texts.append(_SPACES.sub(" ", text).strip())
    coverage = {f: float(nonempty[f].mean()) if len(items) else 0.0 for f in fields}
    return texts, coverage
