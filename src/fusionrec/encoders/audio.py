"""Audio files -> log-mel statistics (numpy/scipy + soundfile; no audio model needed).

Each file becomes the per-band mean and standard deviation over time of its log-mel
spectrogram, plus the same statistics of the frame-to-frame deltas: a fixed-length summary
of timbre and pitch content that makes an audio column usable end to end. Unreadable files
are masked and reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from math import gcd

import numpy as np

from fusionrec.encoders.base import BaseEncoder, package_version, settings_string
from fusionrec.encoders.config import LogMelAudio
from fusionrec.encoders.images import missing_path


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filters, shape [n_mels, n_fft // 2 + 1], each with unit area."""
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (upper - lower))


def read_mono(path: str, sample_rate: int, max_seconds: float | None) -> np.ndarray:
    """Samples as float32 mono at ``sample_rate`` (polyphase resampling when needed)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    with sf.SoundFile(path) as f:
        frames = -1 if max_seconds is None else int(max_seconds * f.samplerate)
        data = f.read(frames=frames, dtype="float32", always_2d=True)
        source_rate = f.samplerate
    mono = data.mean(axis=1)
    if source_rate != sample_rate:
        g = gcd(source_rate, sample_rate)
        mono = resample_poly(mono, sample_rate // g, source_rate // g).astype(np.float32)
    return mono


#: Dynamic range kept below the loudest mel bin (80 dB): near-silent bands all sit at the
#: floor instead of at whatever numerical noise a resampler or codec left there.
TOP_DB = 80.0


def log_mel(signal: np.ndarray, config: LogMelAudio) -> np.ndarray:
    """Log-mel spectrogram [frames, n_mels] from Hann-windowed frames (vectorised STFT)."""
    n_fft, hop = config.n_fft, config.hop_length
    if len(signal) < n_fft:
        signal = np.pad(signal, (0, n_fft - len(signal)))
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    mel = power @ mel_filterbank(config.sample_rate, n_fft, config.n_mels).T
    floor = max(float(mel.max()), 1e-10) * 10.0 ** (-TOP_DB / 10.0)
    return np.log(np.maximum(mel, floor)).astype(np.float32)


def logmel_statistics(signal: np.ndarray, config: LogMelAudio) -> np.ndarray:
    """mean and std over time of log-mel bands (and of their deltas when configured)."""
    spec = log_mel(signal, config)
    parts = [spec.mean(axis=0), spec.std(axis=0)]
    if config.deltas:
        delta = np.diff(spec, axis=0) if len(spec) > 1 else np.zeros_like(spec)
        parts += [delta.mean(axis=0), delta.std(axis=0)]
    return np.concatenate(parts).astype(np.float32)


class LogMelEncoder(BaseEncoder):
    """Audio paths -> log-mel statistics; files are decoded in parallel threads."""

    def __init__(self, config: LogMelAudio) -> None:
        super().__init__()
        self.config = config
        self.id = f"logmel:v1+soundfile-{package_version('soundfile')}:" + settings_string(
            sample_rate=config.sample_rate,
            n_mels=config.n_mels,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            deltas=config.deltas,
            max_seconds=config.max_seconds,
        )

    @property
    def dim(self) -> int:
        return self.config.n_mels * (4 if self.config.deltas else 2)

    def _one(self, path: object) -> np.ndarray | str:
        if missing_path(path):
            return "no audio"
        try:
            signal = read_mono(str(path), self.config.sample_rate, self.config.max_seconds)
        except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/OSError
            return f"unreadable audio {path}: {type(exc).__name__}: {exc}"
        if signal.size == 0 or not np.isfinite(signal).all():
            return f"empty or invalid audio {path}"
        return logmel_statistics(signal, self.config)

    def encode(self, inputs: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.zeros((len(inputs), self.dim), dtype=np.float32)
        mask = np.zeros(len(inputs), dtype=bool)
        self.problems = {}
        with ThreadPoolExecutor(max_workers=self.config.workers) as pool:
            for i, result in enumerate(pool.map(self._one, inputs)):
                if isinstance(result, str):
                    self.problems[i] = result
                else:
                    matrix[i], mask[i] = result, True
        return matrix, mask
