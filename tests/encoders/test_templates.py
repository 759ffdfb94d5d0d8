from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusionrec.encoders.templates import default_template, render_texts, template_fields
from fusionrec.errors import ConfigError

ITEMS = pd.DataFrame(
    {
        "item_id": [1, 2, 3, 4],
        "title": ["Heat (1995)", "Casino", np.nan, "  "],
        "genres": ["Action|Crime", np.nan, np.nan, None],
        "overview": ["A thief   and a cop.", "Vegas.", np.nan, "\n"],
    }
)


def test_template_renders_fields_and_collapses_whitespace():
    texts, _ = render_texts(ITEMS, "{title}. Genres: {genres}. {overview}")
    assert texts[0] == "Heat (1995). Genres: Action|Crime. A thief and a cop."
    assert texts[1] == "Casino. Genres: . Vegas."


def test_items_with_all_fields_empty_render_as_empty_text():
    # The template's own words ("Genres:") must not turn a content-less item into a feature.
    texts, _ = render_texts(ITEMS, "{title}. Genres: {genres}. {overview}")
    assert texts[2] == "" and texts[3] == ""


def test_every_spelling_of_a_missing_cell_is_empty_text():
    items = pd.DataFrame(
        {
            "title": pd.array(["Heat", None, "Up"], dtype=pd.StringDtype("python")),  # pd.NA
            "year": [pd.NaT, pd.NaT, pd.Timestamp("2009-05-29")],
            "score": np.array([np.nan, np.nan, 8.0], dtype=np.float32),
        }
    )
    texts, coverage = render_texts(items, "{title}. {year}. {score}")
    assert texts == ["Heat. .", "", "Up. 2009-05-29 00:00:00. 8.0"]
    assert coverage == {"title": 2 / 3, "year": 1 / 3, "score": 1 / 3}


def test_field_coverage_counts_non_empty_values():
    _, coverage = render_texts(ITEMS, "{title} {overview}")
    assert coverage == {"title": 0.5, "overview": 0.5}


def test_unknown_field_is_a_config_error_listing_columns():
    with pytest.raises(ConfigError, match="plot"):
        render_texts(ITEMS, "{title} {plot}")


def test_template_without_fields_is_rejected():
    with pytest.raises(ConfigError):
        template_fields("no fields here")


def test_default_template_joins_all_text_fields():
    assert default_template(["title", "overview"]) == "{title}. {overview}"
