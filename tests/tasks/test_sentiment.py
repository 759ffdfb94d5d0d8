"""Review sentiment: the reader, the leakage guard, real-data quality and the CLI."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fusionrec.data.reviews import ReviewColumns, rating_to_label, read_reviews
from fusionrec.errors import ConfigError, DataError, ModelError

FASHION = "amazon-fashion-reviews/AMAZON_FASHION_5.json.gz"


@pytest.fixture(scope="module")
def fashion(data_root):
    path = data_root / FASHION
    if not path.exists():
        pytest.skip(f"{path} not available")
    return read_reviews(path)


# --- reader ---------------------------------------------------------------------------------


def test_fashion_reviews_deduplicated_and_textless_counted(fashion, caplog):
    report = fashion.report
    assert (report.rows, report.duplicates, report.no_text) == (3176, 89, 16)
    # 3,071 rows left hold 445 distinct reviews, copied onto the listings of one product
    assert (report.copies, report.kept, report.items, report.products) == (2626, 445, 31, 19)
    assert report.labels == {"negative": 32, "neutral": 49, "positive": 364}
    assert len(fashion) == 445 and fashion.frame["text"].str.strip().str.len().min() > 0
    assert not fashion.frame[["text", "rating", "user"]].duplicated().any()
    assert "16 without text dropped" in report.summary()
    assert "2,626 copies" in report.summary()


def test_copies_kept_when_asked(data_root):
    got = read_reviews(data_root / FASHION, merge_copies=False)
    assert (got.report.copies, got.report.kept) == (0, 3071)
    assert got.frame["item"].nunique() == 31


def test_labels_from_stars():
    assert rating_to_label(np.array([1, 2, 2.4, 2.5, 3, 3.4, 3.5, 4, 5])).tolist() == [
        0,
        0,
        0,
        1,
        1,
        1,
        2,
        2,
        2,
    ]


def test_jsonl_csv_and_tsv_with_mapped_columns(tmp_path):
    rows = [
        {"t": "Love it", "s": 5, "u": "0669361001", "i": "x"},
        {"t": "Love it", "s": 5, "u": "0669361001", "i": "x"},  # duplicate: kept once
        {"t": "", "s": 1, "u": "b", "i": "x"},  # no text: dropped, counted
        {"s": 2, "u": "b", "i": "y"},  # no text field at all: dropped, counted
        {"t": "meh", "s": "3", "u": "c", "i": "y"},
        {"t": "Love it", "s": 5, "u": "0669361001", "i": "z"},  # copy under item z
        {"t": "Love it", "s": 5, "u": "someone else", "i": "w"},  # another reviewer: kept
    ]
    jsonl = tmp_path / "r.jsonl.gz"
    with gzip.open(jsonl, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    columns = ReviewColumns(text="t", rating="s", user="u", item="i")
    got = read_reviews(jsonl, columns)
    report = got.report
    assert (report.duplicates, report.no_text, report.copies, report.kept) == (1, 2, 1, 3)
    assert got.frame["user"].tolist() == ["0669361001", "c", "someone else"]  # strings kept
    assert got.labels.tolist() == [2, 1, 2] and got.frame["line"].tolist() == [1, 5, 7]
    assert (report.items, report.products) == (4, 3)  # x and z share a review: one product
    assert got.frame["item"].tolist() == ["x", "y", "w"]

    csv_path = tmp_path / "r.csv"
    csv_path.write_text('t,s,u,i\n"Too small, sadly",2,a,x\n"two\nlines",4,b,y\n')
    got = read_reviews(csv_path, columns)
    assert got.texts == ["Too small, sadly", "two\nlines"] and got.labels.tolist() == [0, 2]

    tsv = tmp_path / "s.tsv"
    tsv.write_text("sentence\tlabel\nawful\tnegative\nfine I guess\t3\n\nsuperb\tPOSITIVE\n")
    got = read_reviews(tsv)
    assert got.labels.tolist() == [0, 1, 2] and got.frame["line"].tolist() == [2, 3, 5]
    assert np.isnan(got.frame["rating"].iloc[0]) and got.frame["rating"].iloc[1] == 3.0
    assert got.frame["user"].isna().all()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"reviewText": "ok", "overall": 5}\n{bad\n', r"a.jsonl, line 2: not valid"),
        (
            "b.jsonl",
            '{"reviewText": "ok", "overall": 7, "reviewerID": "u", "asin": "i"}\n',
            r"b.jsonl, line 1, column 'overall': expected a star rating from 1 to 5, found 7",
        ),
        (  # a JSON true is not one star
            "t.jsonl",
            '{"reviewText": "ok", "overall": true, "reviewerID": "u", "asin": "i"}\n',
            r"t.jsonl, line 1, column 'overall': expected a star rating from 1 to 5, found True",
        ),
        (
            "c.jsonl",
            '{"reviewText": "ok", "stars": 5}\n',
            r"c.jsonl, column 'overall': no rating "
            r"field 'overall' in any row; fields found: \['reviewText', 'stars'\]",
        ),
        (
            "d.jsonl",
            '{"reviewText": "ok", "overall": 5, "asin": "i"}\n',
            r"no user field 'reviewerID' in any row.*'-' means the file has none",
        ),
        (
            "e.csv",
            "reviewText,overall,reviewerID,asin\nok,,u,i\n",
            r"e.csv, line 2, column 'overall': missing rating",
        ),
        ("f.tsv", "good\tpositive\nbad\tawful\n", r"f.tsv, line 2: unknown label 'awful'"),
        ("g.tsv", "no tab here\n", r"g.tsv, line 1: expected 'sentence<TAB>label'"),
        ("h.parquet", "", r"cannot tell the review file format"),
        ("i.jsonl", "[1, 2]\n", r"i.jsonl, line 1: expected a JSON object, found list"),
        (
            "l.jsonl",
            '{"reviewText": "fine", "overall": 4, "reviewerID": "u", "asin": "i"}\n'
            '{"reviewText": 5, "overall": 5, "reviewerID": "u", "asin": "j"}\n',
            r"l.jsonl, line 2, column 'reviewText': expected the review text, found int 5",
        ),
        ("j.csv", "reviewText,overall\n", r"j.csv: the file holds no reviews"),
        (
            "k.csv",
            "reviewText,overall,reviewerID,asin\n ,3,u,i\n,4,u,j\n",
            r"k.csv: no review has text \(2 rows",
        ),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_reviews(path)


def test_csv_lines_are_counted_across_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "reviewText,overall,reviewerID,asin\n"
        "fine,4,u1,i1\n"
        "\n"
        '"two\nlines",5,u2,i2\n'
        "broken,n/a,u3,i3\n"  # line 6
    )
    with pytest.raises(DataError, match=r"r.csv, line 6, column 'overall'"):
        read_reviews(path)
    path.write_text('reviewText,overall,reviewerID,asin\n"a\r\nb",4,u1,i1\n\nok,5,u2,i2\n')
    assert read_reviews(path).frame["line"].tolist() == [2, 5]


def test_a_byte_order_mark_is_not_part_of_the_first_field(tmp_path):
    rows = {"r.csv": "overall,reviewText\n5,great\n1,awful\n"}
    rows["r.jsonl"] = '{"overall": 5, "reviewText": "great"}\n{"overall": 1, "reviewText": "no"}\n'
    columns = ReviewColumns(user=None, item=None)
    for name, text in rows.items():
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # as a spreadsheet saves "CSV UTF-8"
        assert read_reviews(path, columns=columns).frame["rating"].tolist() == [5.0, 1.0]
        gz = tmp_path / f"{name}.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        assert len(read_reviews(gz, columns=columns)) == 2


def test_review_files_read_compressed_as_data_files_do(tmp_path):
    import bz2
    import lzma

    text = b"overall,reviewText\n5,great\n1,awful\n"
    columns = ReviewColumns(user=None, item=None)
    for suffix, compress in ((".bz2", bz2.compress), (".xz", lzma.compress)):
        path = tmp_path / f"r.csv{suffix}"
        path.write_bytes(compress(text))
        assert read_reviews(path, columns=columns).frame["text"].tolist() == ["great", "awful"]
        path.write_bytes(compress(text)[:-8])  # cut short: an error naming it, no traceback
        with pytest.raises(DataError, match=rf"r.csv{suffix}.*cannot read the file"):
            read_reviews(path, columns=columns)


# --- leakage --------------------------------------------------------------------------------


def _toy_frame(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ratings = rng.integers(1, 6, n).astype(float)
    return pd.DataFrame(
        {
            "text": [f"review {i}" for i in range(n)],
            "rating": ratings,
            "label": rating_to_label(ratings),
            "user": [f"u{i % 3}" for i in range(n)],
            "item": [f"i{i % 2}" for i in range(n)],
        }
    )


def test_context_comes_from_training_rows_only():
    """Changing test reviews (ratings, texts) must not move any context feature, and a
    training row's own review must not be in its own context."""
    from fusionrec.tasks.sentiment.features import ContextTables

    frame = _toy_frame()
    emb = np.random.default_rng(1).standard_normal((len(frame), 4)).astype(np.float32)
    train, test = np.arange(12) < 8, np.arange(12) >= 8
    tables = ContextTables.fit(frame[train], emb[train])
    before_train = tables.features(frame[train], emb[train], own=True)
    before_test = tables.features(frame[test], emb[test], own=False)

    leaked = frame.copy()
    leaked.loc[test, "rating"] = 1.0 + (5.0 - leaked.loc[test, "rating"])  # flip test stars
    leaked.loc[test, "label"] = rating_to_label(leaked.loc[test, "rating"].to_numpy())
    emb2 = emb.copy()
    emb2[test] += 10.0
    tables2 = ContextTables.fit(leaked[train], emb2[train])
    np.testing.assert_array_equal(tables2.features(leaked[train], emb2[train], True), before_train)
    np.testing.assert_array_equal(tables2.features(leaked[test], emb2[test], False), before_test)

    # leave-one-out: row 0's item context is the mean of the OTHER training rows of item i0
    others = np.flatnonzero(train & (frame["item"] == "i0").to_numpy())[1:]
    np.testing.assert_allclose(before_train[0, :4], emb[others].mean(axis=0), rtol=1e-5)
    global_mean = frame.loc[train, "rating"].mean()
    want = frame.loc[others, "rating"].mean() - global_mean
    assert before_train[0, 4] == pytest.approx(want, rel=1e-5)
    # a test row of item i0 sees all training rows of i0
    first_test = np.flatnonzero(test & (frame["item"] == "i0").to_numpy())[0]
    all_i0 = np.flatnonzero(train & (frame["item"] == "i0").to_numpy())
    np.testing.assert_allclose(before_test[first_test - 8, :4], emb[all_i0].mean(axis=0), rtol=1e-5)
    # unknown ids get no context (zero mean, log count 0)
    unknown = frame.iloc[:1].assign(item="never-seen", user=None)
    row = tables.features(unknown, emb[:1], own=False)
    assert not row[0, :4].any() and row[0, 8] == 0.0


def test_cross_validation_builds_context_inside_each_training_fold(monkeypatch):
    """Every ContextTables.fit in cross-validation sees only that fold's training rows."""
    from fusionrec.data.reviews import Reviews, ReviewsReport
    from fusionrec.tasks.sentiment import evaluation, features, model

    frame = pd.concat([_toy_frame(30)] * 2, ignore_index=True)
    frame["text"] = [f"text number {i} good bad" for i in range(len(frame))]
    emb = np.random.default_rng(2).standard_normal((len(frame), 4)).astype(np.float32)
    seen: list[set[str]] = []
    real_fit = features.ContextTables.fit.__func__

    def spy(cls, part, part_emb):
        seen.append(set(part["text"]))
        return real_fit(cls, part, part_emb)

    monkeypatch.setattr(features.ContextTables, "fit", classmethod(spy))
    reviews = Reviews(frame, ReviewsReport("toy", "jsonl"))
    folds = model.stratified_folds(reviews.labels, 3, 0)
    small = (model.ClassifierParams(weight_decay=1e-2, max_iter=20),)
    monkeypatch.setitem(model.GRIDS, "fused", small)
    evaluation.cross_validate(reviews, ["fused"], n_folds=3, seed=0, embeddings=emb)
    assert len(seen) == 3 * 2  # per fold: one selection fit, one refit
    for fold in range(3):
        test_texts = set(frame.loc[folds == fold, "text"])
        fold_fits = seen[2 * fold : 2 * fold + 2]
        assert all(not (texts & test_texts) for texts in fold_fits)


def test_cross_validation_refuses_more_folds_than_a_class_has_reviews():
    from fusionrec.data.reviews import Reviews, ReviewsReport
    from fusionrec.tasks.sentiment.evaluation import cross_validate

    frame = _toy_frame(30)
    counts = np.bincount(frame["label"], minlength=3)
    fewest = int(counts[counts > 0].min())
    reviews = Reviews(frame, ReviewsReport("toy", "jsonl"))
    with pytest.raises(ConfigError, match=rf"use --folds {fewest} or fewer"):
        cross_validate(reviews, ["tfidf"], n_folds=fewest + 1)


# --- models on real data ----------------------------------------------------------------------


def test_lm_classifier_beats_majority_class_on_a_real_slice(fashion):
    """MiniLM embedding + classifier, trained on 2/3 of the 445 fashion reviews (stratified),
    has a clearly higher macro-F1 on the other third than always predicting 'positive'."""
    from fusionrec.evaluate.classification import classification_metrics
    from fusionrec.tasks.sentiment.classifier import ClassifierParams
    from fusionrec.tasks.sentiment.features import embed_reviews
    from fusionrec.tasks.sentiment.model import stratified_folds, train_sentiment

    frame = fashion.frame
    # the feature store's cache: embedded once, shared with the benchmark and default model
    emb = embed_reviews(frame["text"].tolist())
    test = stratified_folds(frame["label"].to_numpy(), 3, 0) == 0
    model = train_sentiment(
        frame[~test],
        "lm",
        embeddings=emb[~test],
        grid=[ClassifierParams(weight_decay=1e-2, max_iter=100)],
    )
    probs = model.predict_proba(frame[test].reset_index(drop=True), emb[test])
    truth = frame.loc[test, "label"].to_numpy()
    names = ("negative", "neutral", "positive")
    lm = classification_metrics(truth, probs.argmax(axis=1), names)["macro_f1"]
    majority = classification_metrics(truth, np.full(len(truth), 2), names)["macro_f1"]
    assert lm > majority + 0.15, (lm, majority)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def _tiny_tsv(path):
    rows = []
    for i in range(12):
        rows += [
            f"great fit, love it {i}\tpositive",
            f"perfect and lovely, love the colour {i}\t5",
            f"terrible quality, it broke {i}\tnegative",
            f"awful, broke after a day {i}\t1",
            f"okay I guess, average {i}\tneutral",
            f"fine, average size {i}\t3",
        ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_save_load_round_trip_with_context(tmp_path):
    from fusionrec.tasks.sentiment.classifier import ClassifierParams
    from fusionrec.tasks.sentiment.model import SentimentModel, train_sentiment

    frame = pd.concat([_toy_frame(30)] * 2, ignore_index=True)
    emb = np.random.default_rng(3).standard_normal((len(frame), 8)).astype(np.float32)
    emb[:, 0] += frame["label"].to_numpy()  # some signal
    grid = [ClassifierParams(hidden=4, weight_decay=1e-3, max_iter=30)]
    model = train_sentiment(frame, "fused", embeddings=emb, grid=grid)
    path = model.save(tmp_path / "m")
    again = SentimentModel.load(path)
    users, items = frame["user"].tolist(), ["never-seen"] + frame["item"].tolist()[1:]
    a = model.predict(frame["text"].tolist(), users, items, embeddings=emb)
    b = again.predict(frame["text"].tolist(), users, items, embeddings=emb)
    pd.testing.assert_frame_equal(a, b)
    assert again.temperature == model.temperature and again.kind == "fused"
    one = frame["text"].iloc[0]  # one string is one review, not one per character
    single = again.predict(one, embeddings=emb[:1])
    assert len(single) == 1 and single["text"].tolist() == [one]
    for bad in ([one, "  "], [one, None], [5]):
        with pytest.raises(ConfigError, match="blank or not strings"):
            again.predict(bad)
    # one id per text, or a clear error (not pandas' "All arrays must be of the same length")
    assert len(again.predict(one, users[0], items[0], embeddings=emb[:1])) == 1
    with pytest.raises(ConfigError, match="items has 3 entries for 2 texts"):
        again.predict([one, one], items=items[:3], embeddings=emb[:2])
    with pytest.raises(ConfigError, match="embeddings has 1 rows for 2 texts"):
        again.predict([one, one], embeddings=emb[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~mask  # not tempfile's private 0700
    with pytest.raises(ModelError, match="no manifest.json"):
        SentimentModel.load(tmp_path)


def test_a_merged_listing_gets_its_products_context(tmp_path):
    """Copies of one review under two listings merge them into one product named by the
    smaller id; the fused model asked about the other listing still gives its context."""
    from fusionrec.tasks.sentiment.classifier import ClassifierParams
    from fusionrec.tasks.sentiment.model import SentimentModel, train_sentiment

    rows = [{"reviewText": f"text {i}", "overall": 1 + i % 5, "reviewerID": f"u{i}",
             "asin": f"P{i % 3}"} for i in range(60)]  # fmt: skip
    rows += [{**r, "asin": "Z9"} for r in rows if r["asin"] == "P0"]  # P0's reviews, again
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reviews = read_reviews(path)
    assert reviews.item_aliases == {"Z9": "P0"} and set(reviews.frame["item"]) == {"P0", "P1", "P2"}
    emb = np.random.default_rng(4).standard_normal((len(reviews), 8)).astype(np.float32)
    grid = [ClassifierParams(hidden=4, weight_decay=1e-3, max_iter=30)]
    model = train_sentiment(
        reviews.frame, "fused", embeddings=emb, grid=grid, item_aliases=reviews.item_aliases
    )
    again = SentimentModel.load(model.save(tmp_path / "m"))
    asked = pd.DataFrame({"item": ["P0", "Z9", "never-seen"], "user": None, "rating": np.nan})
    for m in (model, again):
        product, listing, unknown = m.context.features(asked, emb[[0, 0, 0]], own=False)
        np.testing.assert_array_equal(listing, product)
        assert not np.array_equal(listing, unknown)


def test_default_model_trained_once_then_cached(tmp_path, monkeypatch, caplog):
    from fusionrec.tasks.sentiment import default

    caplog.set_level("INFO", logger="fusionrec")
    data = _tiny_tsv(tmp_path / "tiny.tsv")
    model = default.default_model(tmp_path / "cache", data, kind="tfidf")
    assert "trained the default sentiment model" in caplog.text
    folders = list((tmp_path / "cache").iterdir())
    assert len(folders) == 1 and (folders[0] / "manifest.json").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although a cached model exists")

    monkeypatch.setattr(default, "train_sentiment", no_training)
    again = default.default_model(tmp_path / "cache", data, kind="tfidf")
    texts = ["love it", "it broke"]
    pd.testing.assert_frame_equal(model.predict(texts), again.predict(texts))


def test_cli_predict_reads_stdin_and_keeps_line_order(tmp_path):
    from fusionrec.cli import app

    runner = CliRunner()
    data = _tiny_tsv(tmp_path / "tiny.tsv")
    out = tmp_path / "model"
    result = runner.invoke(
        app, ["sentiment", "train", str(data), "--kind", "tfidf", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").exists()
    text = "great fit, love it\n\nterrible, it broke\nokay, average\n"
    result = runner.invoke(app, ["sentiment", "predict", "--model", str(out)], input=text)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[1] == ""
    labels = [line.split("\t")[0] for line in lines if line]
    assert labels == ["positive", "negative", "neutral"]
    first = lines[0].split("\t")
    assert 1 / 3 < float(first[1]) <= 1.0 and first[2] == "great fit, love it"


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("fine\tmaybe\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fusionrec.cli import main; main()",
            "sentiment",
            "train",
            str(bad),
            "-o",
            str(tmp_path / "m"),
            "--kind",
            "tfidf",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())  # rich wraps long lines
    assert message.startswith("error: ") and "bad.tsv, line 1: unknown label 'maybe'" in message
    assert "Traceback" not in proc.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    from fusionrec.cli import app

    result = CliRunner().invoke(app, ["sentiment", "train", str(bad), "-o", str(a_file)])
    assert "is a file; give --out a folder" in str(result.exception)


def test_verdict_says_plainly_whether_tfidf_is_beaten():
    from fusionrec.tasks.sentiment.evaluation import CrossValidation

    cv = CrossValidation(n_folds=3, seed=0)
    cv.folds["tfidf"] = [{"macro_f1": v} for v in (0.5, 0.6, 0.7)]
    cv.folds["lm"] = [{"macro_f1": v} for v in (0.4, 0.5, 0.6)]
    assert cv.verdict().startswith("No: the TF-IDF baseline has the best mean macro-F1 (0.600)")
    cv.folds["fused"] = [{"macro_f1": v} for v in (0.8, 0.5, 0.75)]
    verdict = cv.verdict()
    assert verdict.startswith("Yes on average: MiniLM + item & reviewer context")
    assert "higher in 2 of 3 folds" in verdict and "within noise" in verdict


@pytest.mark.parametrize("how", ["file", "stdin", "folder"])
def test_cli_predict_names_bad_input_in_one_line(tmp_path, how):
    path = tmp_path / "s.txt"
    path.write_bytes("fine\ncaf\xe9 great\n".encode("latin-1"))
    argv = [sys.executable, "-c", "from fusionrec.cli import main; main()", "sentiment", "predict"]
    target = {"file": [str(path)], "stdin": [], "folder": [str(tmp_path)]}[how]
    proc = subprocess.run(
        [*argv, *target], input=path.read_bytes() if how == "stdin" else None,
        capture_output=True, check=False,
    )  # fmt: skip
    message = " ".join(proc.stderr.decode().split())
    assert proc.returncode == 2 and "Traceback" not in message, message
    expected = "is a folder" if how == "folder" else "line 2: byte 0xe9 is not UTF-8"
    assert expected in message


def test_too_few_reviews_are_warned_about(caplog):
    """Six reviews save a model that cannot have learnt much: said, not silent; a small but
    learnable set is not warned about."""
    from fusionrec.tasks.sentiment.model import train_sentiment

    words = {1.0: "awful broken waste", 3.0: "okay average fine", 5.0: "great love perfect"}

    def frame(ratings: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "text": [f"{words[r]} {i}" for i, r in enumerate(ratings)],
                "rating": ratings,
                "label": rating_to_label(ratings),
                "user": [f"u{i % 7}" for i in range(len(ratings))],
                "item": [f"i{i % 5}" for i in range(len(ratings))],
            }
        )

    with caplog.at_level(logging.WARNING, logger="fusionrec.tasks"):
        train_sentiment(frame(np.array([1.0, 1.0, 3.0, 5.0, 5.0, 5.0])), "tfidf")
    assert "too few to learn sentiment from" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fusionrec.tasks"):
        train_sentiment(frame(np.repeat(list(words), 30)), "tfidf")
    assert "too few" not in caplog.text


def test_fused_without_reviewer_or_item_ids_says_it_has_no_context(caplog):
    from fusionrec.tasks.sentiment.classifier import ClassifierParams
    from fusionrec.tasks.sentiment.model import train_sentiment

    frame = pd.concat([_toy_frame(30)] * 2, ignore_index=True)
    emb = np.random.default_rng(3).standard_normal((len(frame), 8)).astype(np.float32)
    grid = [ClassifierParams(hidden=0, weight_decay=1e-3, max_iter=20)]
    with caplog.at_level(logging.WARNING, logger="fusionrec.tasks"):
        train_sentiment(frame, "fused", embeddings=emb, grid=grid)
    assert "no context to fuse" not in caplog.text  # ids given: nothing to say
    frame[["user", "item"]] = None
    with caplog.at_level(logging.WARNING, logger="fusionrec.tasks"):
        train_sentiment(frame, "fused", embeddings=emb, grid=grid)
    assert "without reviewer or item ids" in caplog.text and "--user-col" in caplog.text
