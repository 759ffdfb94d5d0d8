from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from fusionrec.encoders import make_encoder
from fusionrec.encoders.config import LogMelAudio


def tone(path, hz: float, seconds: float = 1.0, rate: int = 16_000, phase: float = 0.0):
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.5 * np.sin(2 * np.pi * hz * t + phase)
    sf.write(path, signal.astype(np.float32), rate)
    return str(path)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    broken = root / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEnot audio")
    return {
        "a440": tone(root / "a440.wav", 440),
        "a440b": tone(root / "a440b.wav", 440, seconds=1.2, phase=1.0),
        "a440_44k": tone(root / "a440_44k.wav", 440, rate=44_100),
        "c1000": tone(root / "c1000.wav", 1000),
        "low": tone(root / "low.wav", 110),
        "broken": str(broken),
        "missing": str(root / "none.wav"),
    }


def test_same_tone_is_near_identical_and_different_pitches_differ(wavs):
    encoder = make_encoder(LogMelAudio())
    names = ["a440", "a440b", "a440_44k", "c1000", "low"]
    matrix, mask = encoder.encode([wavs[n] for n in names])
    assert matrix.shape == (5, 256) and mask.all()
    d = lambda i, j: np.linalg.norm(matrix[i] - matrix[j])  # noqa: E731
    same = max(d(0, 1), d(0, 2))  # same pitch: other phase/length, other sample rate
    assert same < 0.25 * min(d(0, 3), d(0, 4), d(3, 4))


def test_unreadable_or_missing_audio_is_masked_and_reported(wavs):
    encoder = make_encoder(LogMelAudio(deltas=False, n_mels=32))
    matrix, mask = encoder.encode([wavs["a440"], wavs["broken"], None, wavs["missing"]])
    assert matrix.shape == (4, 64)
    assert mask.tolist() == [True, False, False, False]
    assert not matrix[1:].any()
    assert sorted(encoder.problems) == [1, 2, 3] and encoder.problems[2] == "no audio"
    assert "broken.wav" in encoder.problems[1]
