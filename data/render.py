"""Rendering one instrument's notes to audio with FluidSynth and a SoundFont.

Notes are performed events ``(start_s, end_s, pitch, velocity)``; the result is mono float32
``(nb_samples,)`` at the requested rate. FluidSynth's own reverb and chorus are off: room
acoustics are added by ``data.synth`` so that every stem of a piece shares one room.
"""
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from common.errors import AvsepError

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")


def find_soundfonts():
    """SoundFont files installed in the usual Debian folders (links resolved, duplicates dropped)."""
    found = {}
    for folder in SOUNDFONT_DIRS:
        for path in sorted(Path(folder).glob("*.sf[23]")) if Path(folder).is_dir() else ():
            if path.exists():
                found.setdefault(path.resolve(), path)
    return sorted(found)


def fluidsynth_exe():
    """The fluidsynth binary, or a one-line error saying how to install it."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise AvsepError("fluidsynth is not installed; run: sudo apt-get install fluidsynth timgm6mb-soundfont")
    return exe


def render_notes(events, program, soundfont, sample_rate):
    """Render events with a General MIDI program.

    Args:
        events: float array ``(nb_notes, 4)``: start_s, end_s, pitch, velocity.
        program: General MIDI program, 0-based.
        soundfont: path of a ``.sf2``/``.sf3`` file.
        sample_rate: output rate in Hz.

    Returns:
        float32 ``(nb_samples,)``, mono.
    """
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    instrument = pretty_midi.Instrument(program=int(program))
    for number, value in ((7, 100), (10, 64), (11, 127), (91, 0), (93, 0)):  # volume, pan, expression, fx off
        instrument.control_changes.append(pretty_midi.ControlChange(number, value, 0.0))
    for start, end, pitch, velocity in events:
        instrument.notes.append(pretty_midi.Note(int(velocity), int(pitch), float(start), float(end)))
    midi.instruments.append(instrument)
    with tempfile.TemporaryDirectory(prefix="avsep-render-") as folder:
        midi_path, wav_path = Path(folder, "part.mid"), Path(folder, "part.wav")
        midi.write(str(midi_path))
        command = [fluidsynth_exe(), "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(sample_rate),
                   "-O", "float", "-T", "wav", "-F", str(wav_path), str(soundfont), str(midi_path)]
        process = subprocess.run(command, capture_output=True, text=True)
        if process.returncode != 0 or not wav_path.exists():
            raise AvsepError(f"fluidsynth failed on {soundfont}: {(process.stderr or process.stdout).strip()[-200:]}")
        audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise AvsepError(f"fluidsynth rendered at {rate} Hz instead of {sample_rate} Hz")
    return audio.mean(axis=1)
