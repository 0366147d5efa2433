"""URMP-layout pieces of sine stems at 8 kHz, one frequency per instrument, for training tests."""
import numpy as np

from audio.io import write_audio

SR = 8000


def write_piece(root, number, codes, seconds=1.0, seed=0):
    """A URMP-layout piece of sine stems, one frequency per instrument."""
    rng = np.random.default_rng(seed)
    title = "Sines"
    folder = root / f"{number:02d}_{title}_{'_'.join(codes)}"
    t = np.arange(int(seconds * SR)) / SR
    stems = [0.2 * np.sin(2 * np.pi * (220 * (1 + i) + rng.uniform(0, 20)) * t) for i, _ in enumerate(codes)]
    for part, (code, stem) in enumerate(zip(codes, stems), start=1):
        write_audio(folder / f"AuSep_{part}_{code}_{number:02d}_{title}.wav", stem, SR)
    write_audio(folder / f"AuMix_{folder.name}.wav", np.sum(stems, axis=0), SR)
    return folder
