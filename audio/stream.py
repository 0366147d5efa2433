"""Audio in blocks: decode from ffmpeg's pipe, resample and write as it comes, so memory stays flat.

:class:`AudioStream` decodes any media file's first audio stream into float32 blocks
``(nb_channels, block)`` at the file's own rate; :class:`StreamResampler` resamples a stream of
blocks with libsoxr's streaming resampler (the same filter as :func:`audio.io.resample`, its
delay handled inside); :class:`BlockWriter` writes blocks to a file and fixes its exact length
at the end; :func:`prefetch` runs a stream's production in a background thread.
"""
import queue
import struct
import subprocess
import threading

import numpy as np
import soundfile
import soxr

from common.errors import EmptyMediaError, NoAudioStreamError, UndecodableMediaError
from common.ffmpeg import check_media_file, ffmpeg_error_line, ffmpeg_exe

BLOCK_S = 10.0


class AudioStream:
    """Decode ``path`` block by block.

    Attributes (known once opened): ``sample_rate``, ``nb_channels``; after the last block
    ``nb_samples`` (how many were decoded).

    Raises:
        MediaNotFoundError, EmptyMediaError, UndecodableMediaError, NoAudioStreamError.
    """

    def __init__(self, path, block_s=BLOCK_S, stream=0):
        self.path = check_media_file(path)
        self.block_s, self.stream = block_s, stream
        self.process = subprocess.Popen(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(self.path), "-map", f"0:a:{stream}", "-f",
             "wav", "-acodec", "pcm_f32le", "pipe:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.nb_channels, self.sample_rate = self._read_header()
        self.nb_samples = 0

    def _fail(self):
        stderr = self.process.stderr.read()
        self.process.wait()
        if b"matches no streams" in stderr:
            raise NoAudioStreamError(f"no audio stream {self.stream} in {self.path}" if self.stream
                                     else f"no audio stream in {self.path}")
        raise UndecodableMediaError(f"cannot decode {self.path}: {ffmpeg_error_line(stderr)}")

    def _read_header(self):
        """Read the WAV header ffmpeg writes (its size fields may be unset) up to the data chunk."""
        riff = self.process.stdout.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            self._fail()
        nb_channels = sample_rate = None
        while True:
            header = self.process.stdout.read(8)
            if len(header) < 8:
                self._fail()
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                if nb_channels is None:
                    self._fail()
                return nb_channels, sample_rate
            body = self.process.stdout.read(size + (size & 1))
            if chunk_id == b"fmt ":
                nb_channels, sample_rate = struct.unpack("<HI", body[2:8])

    def __iter__(self):
        """Blocks ``(nb_channels, n)`` float32, ``n`` about ``block_s`` seconds (the last shorter)."""
        frame_bytes = 4 * self.nb_channels
        block_bytes = int(self.block_s * self.sample_rate) * frame_bytes
        try:
            while True:  # a pipe read returns the full size asked for, less only at the end
                data = self.process.stdout.read(block_bytes)
                usable = len(data) - len(data) % frame_bytes  # a cut-off last frame is dropped
                if usable:
                    block = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, self.nb_channels).T.copy()
                    self.nb_samples += block.shape[1]
                    yield block
                if len(data) < block_bytes:
                    break
        finally:
            self.close()
        if self.process.returncode not in (0, None) and self.nb_samples == 0:
            self._fail()
        if self.nb_samples == 0:
            raise EmptyMediaError(f"no audio samples in {self.path}")

    def close(self):
        if self.process.poll() is None:
            self.process.stdout.close()
            self.process.kill()
        self.process.wait()


class StreamResampler:
    """Resample a stream of ``(nb_channels, n)`` blocks from ``from_rate`` to ``to_rate`` (libsoxr HQ)."""

    def __init__(self, from_rate, to_rate, nb_channels):
        self.passthrough = from_rate == to_rate
        if not self.passthrough:
            self.resampler = soxr.ResampleStream(from_rate, to_rate, nb_channels, dtype="float32", quality="HQ")

    def push(self, block, last=False):
        """Resampled ``(nb_channels, m)`` float32 for this block (``last`` flushes the filter's tail)."""
        if self.passthrough:
            return np.asarray(block, dtype=np.float32)
        out = self.resampler.resample_chunk(np.ascontiguousarray(np.asarray(block, dtype=np.float32).T), last=last)
        return np.ascontiguousarray(out.T)


class BlockWriter:
    """Write ``(nb_channels, n)`` blocks to a sound file as they come, then fix its length exactly.

    WAV files are 32-bit float, FLAC 24-bit PCM (as :func:`audio.io.write_audio`). The file is
    written in place: write into a staging folder (:mod:`pipelines.output_folder`) for atomicity.
    """

    def __init__(self, path, sample_rate, nb_channels):
        subtype = "PCM_24" if str(path).lower().endswith(".flac") else "FLOAT"
        self.file = soundfile.SoundFile(path, "w", sample_rate, nb_channels, subtype=subtype)
        self.nb_channels, self.written = nb_channels, 0

    def write(self, block):
        self.file.write(np.asarray(block, dtype=np.float32).T)
        self.written += np.shape(block)[1]

    def finish(self, nb_samples):
        """Pad with silence or cut to exactly ``nb_samples`` frames, and close."""
        if self.written < nb_samples:
            self.write(np.zeros((self.nb_channels, nb_samples - self.written), np.float32))
        elif self.written > nb_samples:
            self.file.truncate(nb_samples)
        self.file.close()


def prefetch(iterable, size=2):
    """Iterate ``iterable`` in a background thread, up to ``size`` items ahead, keeping the order.

    Decoding and resampling (ffmpeg's pipe, libsoxr: both release the GIL) then run while the
    model computes, so the job keeps both cores busy. An exception in the background is raised
    here, at the item where it happened.
    """
    items, done = queue.Queue(maxsize=size), object()

    def produce():
        try:
            for item in iterable:
                items.put((item, None))
        except BaseException as error:  # noqa: BLE001  (handed to the consumer)
            items.put((None, error))
        items.put((done, None))

    threading.Thread(target=produce, daemon=True, name="avsep-prefetch").start()
    while True:
        item, error = items.get()
        if error is not None:
            raise error
        if item is done:
            return
        yield item
