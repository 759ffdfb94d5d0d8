"""``fusionrec.io``: atomic artifact writes."""

from __future__ import annotations

import os

from fusionrec.io import write_text


def test_atomic_writes_get_the_permissions_of_a_plain_write(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_text(tmp_path / "atomic.txt", "x")
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~mask
