import os
from pathlib import Path

import pytest

from fusionrec.data import files
from fusionrec.data.files import existing_files


@pytest.fixture
def tree(tmp_path: Path) -> list[Path]:
    """Every kind of path a media column meets: files, a link to one, a broken link, a
    folder where a file was expected, a missing file, a missing folder, a plain file used
    as a folder."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "c").mkdir(parents=True)
    for name in ("a/1.jpg", "a/2.jpg", "b/3.jpg", "top.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "link.jpg").symlink_to(tmp_path / "b" / "3.jpg")
    (tmp_path / "a" / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    names = [
        "a/1.jpg", "a/2.jpg", "b/3.jpg", "top.jpg", "a/link.jpg", "a/broken.jpg", "b/c",
        "a/9.jpg", "nofolder/1.jpg", "top.jpg/1.jpg", "a/../b/3.jpg", "a/1.JPG",
    ]  # fmt: skip
    return [tmp_path / n for n in names]


def test_answers_as_is_file_does(tree):
    expected = [p.is_file() for p in tree]
    assert expected.count(True) == 6  # the fixture holds both answers
    assert existing_files(tree) == expected
    assert existing_files([str(p) for p in tree]) == expected


def test_relative_paths_are_read_from_the_working_folder(tree, monkeypatch):
    monkeypatch.chdir(tree[0].parent)
    assert existing_files(["1.jpg", "9.jpg", "./2.jpg"]) == [True, False, True]


def test_each_folder_is_listed_once_and_no_file_asked_about(tree, monkeypatch):
    listed: list[str] = []
    scandir = os.scandir

    def counting(folder):
        listed.append(folder)
        return scandir(folder)

    monkeypatch.setattr(files.os, "scandir", counting)
    monkeypatch.setattr(files.Path, "is_file", lambda self: pytest.fail(f"asked {self}"))
    many = [tree[0].parent / name for name in ("1.jpg", "9.jpg")] * 500
    assert existing_files(many) == [True, False] * 500
    assert len(listed) == 1


def test_a_name_differing_only_in_case_is_asked_about(tree, monkeypatch):
    asked: list[Path] = []
    monkeypatch.setattr(files.Path, "is_file", lambda self: asked.append(self) or True)
    assert existing_files([tree[0].parent / "1.JPG"]) == [True]  # as macOS would answer
    assert asked == [tree[0].parent / "1.JPG"]
