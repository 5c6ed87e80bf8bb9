#!/usr/bin/env python3
"""Upstream (Choi 2016) log-mel front end, computed with librosa: the reference for tests.

Usage: python tools/reference_mel.py IN.f32 OUT.npy [--sr 12000]

IN.f32 is raw little-endian float32 mono PCM, already at --sr and already cropped (no cropping
or resampling is done here). OUT.npy gets a float32 array of shape (96, frames),
frames = 1 + len // 256.

Recipe (see ../shared/upstream/choi2016/README.md):
  S   = librosa.feature.melspectrogram(y, sr, n_fft=512, hop_length=256, n_mels=96, fmax=6000,
                                       power=2.0, center=True, pad_mode="reflect")
        (periodic Hann, Slaney mel + Slaney norm; pad_mode is given explicitly because
        librosa >= 0.10 defaults to zero padding, while the upstream pipeline reflected)
  S   = S ** 2                       # upstream quirk: mel power squared once more
  out = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0)
"""
import argparse

import numpy as np

SR = 12000
N_FFT = 512
HOP = 256
N_MELS = 96
FMAX = 6000.0
WINDOW_SAMPLES = 349440


def log_mel(y, sr=SR):
    """float32 mono PCM at `sr` -> float32 (96, 1 + len // 256) upstream log-mel."""
    import librosa
    y = np.ascontiguousarray(y, dtype=np.float32)
    s = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                                       fmin=0.0, fmax=FMAX, power=2.0, center=True,
                                       pad_mode="reflect")
    s = s ** 2
    return librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=80.0).astype(np.float32)


def crop_or_pad(y, n=WINDOW_SAMPLES):
    """Upstream window: zero-pad at the end if shorter, else the centre n samples."""
    if len(y) < n:
        return np.concatenate([y, np.zeros(n - len(y), dtype=y.dtype)])
    start = (len(y) - n) // 2
    return y[start:start + n]


def main():
    ap = argparse.ArgumentParser(description="upstream Choi 2016 log-mel of raw f32le PCM")
    ap.add_argument("input", help="raw little-endian float32 mono PCM")
    ap.add_argument("output", help="output .npy (float32, shape (96, frames))")
    ap.add_argument("--sr", type=int, default=SR, help="sample rate of the PCM (default 12000)")
    a = ap.parse_args()
    y = np.fromfile(a.input, dtype="<f4")
    if y.size == 0:
        raise SystemExit(f"error: {a.input} holds no samples")
    m = log_mel(y, a.sr)
    np.save(a.output, m)
    print(f"{a.input}: {y.size} samples -> {a.output} {m.shape} float32 "
          f"[{m.min():.2f}, {m.max():.2f}] dB")


if __name__ == "__main__":
    main()
