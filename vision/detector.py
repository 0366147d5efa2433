"""The instrument detector: ultralytics YOLO weights, their class names mapped to our codes.

Any ultralytics weights file (``.pt``) or exported model (``.onnx``, needs onnxruntime) works
by path. Open-vocabulary weights (YOLO-World, YOLOE: a file name containing ``world`` or
``yoloe``) are prompted with the vocabulary's instrument names, which reaches the five
instruments Open Images lacks; their text encoder must be on disk too.

The default is Open Images V7 (``yolov8m-oiv7.pt``), which ultralytics fetches on first use
where there is a network; here nothing is fetched, and missing weights fail in one line.
"""
import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError
from fusion.instruments import (INSTRUMENTS, NB_INSTRUMENTS, OTHER_INSTRUMENT_CLASSES, PERSON_CLASSES,
                                PLAYER_CLASSES, code_for_class, index_of, load_class_map)
from vision.ultralytics_offline import load_yolo

DEFAULT_WEIGHTS = "yolov8m-oiv7.pt"
DEFAULT_CONFIDENCE = 0.25
_OPEN_VOCABULARY_MARKERS = ("world", "yoloe")


@dataclass
class FrameEvidence:
    """What the detector saw in each of ``nb_frames`` frames.

    Attributes:
        scores: float32 ``(nb_frames, K)``: highest box confidence per instrument (0 when unseen).
        counts: int ``(nb_frames, K)``: boxes per instrument.
        players: float32 ``(nb_frames,)``: highest confidence of anything showing a player (a person,
            a face, an instrument of ours or any other).
        nb_players: int ``(nb_frames,)``: people seen (the most boxes of one person class, or of
            instruments of any kind, whichever is more).
        nb_others: int ``(nb_frames,)``: instruments seen that are not ours (a guitar, a piano): the
            players of those play none of our instruments.
    """

    scores: np.ndarray
    counts: np.ndarray
    players: np.ndarray
    nb_players: np.ndarray
    nb_others: np.ndarray


@contextmanager
def runtime_of(weights):
    """A missing runtime of exported weights (onnxruntime, openvino, tensorrt...) as a one-line error."""
    try:
        yield
    except ModuleNotFoundError as error:
        raise ConfigError(f"cannot run detector weights {weights}: they need the Python package {error.name}, "
                          "which is not installed") from None


class Detector:
    """Detect instruments in frames.

    Args:
        weights: weights path (or a file name in the cache, or a model YAML for tests).
        class_map: optional YAML of extra ``class name: code`` entries.
        confidence: minimum box confidence.
        imgsz: inference size in pixels; None takes the size the weights were trained at (else 640).
        max_imgsz: an upper bound on that size (for a cheaper pass), or None.
        batch_size: frames per predict call.
        threads: CPU threads for inference; None: every core this process may use. Ultralytics
            sets torch to ``cpu_count - 1`` threads when its predictor starts (one thread, half
            the speed, on 2 cores), so the predictor is started here on a blank frame and the
            threads are set before every predict call.
    """

    def __init__(self, weights=DEFAULT_WEIGHTS, class_map=None, confidence=DEFAULT_CONFIDENCE, imgsz=None, max_imgsz=None,
                 batch_size=16, threads=None):
        self.weights, self.class_map_path = str(weights), class_map
        self.confidence, self.batch_size = confidence, batch_size
        self.model = load_yolo(weights)
        with runtime_of(self.weights):  # exported weights load theirs when first used, here
            self._set_up(class_map, imgsz, max_imgsz, threads)

    def _set_up(self, class_map, imgsz, max_imgsz, threads):
        """Sizes, threads, the classes of ours and of players, and a warm-up call on a blank frame."""
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        self.threads = threads or available
        self.imgsz = imgsz or self.model.overrides.get("imgsz") or 640
        self.imgsz = min(self.imgsz, max_imgsz) if max_imgsz else self.imgsz
        if any(marker in self.weights.lower() for marker in _OPEN_VOCABULARY_MARKERS):
            self._prompt_with_vocabulary()
        class_map_entries = load_class_map(class_map)
        self.class_to_index = {}
        for class_id, name in self.model.names.items():
            code = code_for_class(name, class_map_entries)
            if code is not None:
                self.class_to_index[int(class_id)] = index_of(code)
        lowered = {int(class_id): name.lower() for class_id, name in self.model.names.items()}

        def class_ids(names):
            wanted = {name.lower() for name in names}
            return {class_id for class_id, name in lowered.items() if name in wanted}

        self.person_classes = class_ids(PERSON_CLASSES)
        self.other_classes = class_ids(OTHER_INSTRUMENT_CLASSES)
        self.player_classes = class_ids(PLAYER_CLASSES) | self.other_classes | set(self.class_to_index)
        self.model.predict(np.zeros((32, 32, 3), dtype=np.uint8), imgsz=self.imgsz, verbose=False)

    def _prompt_with_vocabulary(self):
        try:
            self.model.set_classes([instrument.name for instrument in INSTRUMENTS])
        except Exception as error:  # noqa: BLE001  (the text encoder may be missing offline)
            raise ConfigError(f"cannot prompt open-vocabulary weights {self.weights}: "
                              f"{str(error).splitlines()[0]}") from None

    def describe(self):
        """What the presence JSON records about the detector."""
        return {"weights": self.weights, "class_map": str(self.class_map_path) if self.class_map_path else None,
                "confidence": self.confidence, "imgsz": self.imgsz,
                "classes_used": {self.model.names[c]: INSTRUMENTS[i].code for c, i in self.class_to_index.items()},
                "player_classes": sorted(self.model.names[c] for c in self.player_classes)}

    def detect(self, images, boxes_out=None):
        """Score each frame.

        Args:
            images: list of BGR uint8 frames ``(height, width, 3)``.
            boxes_out: a list to append, per frame, the instrument boxes to:
                ``[[x1, y1, x2, y2, code, confidence], ...]`` in pixels (for reports).

        Returns:
            :class:`FrameEvidence` of the frames.
        """
        import torch  # loaded with the weights already; at module level it would slow every CLI's start

        evidence = FrameEvidence(np.zeros((len(images), NB_INSTRUMENTS), dtype=np.float32),
                                 np.zeros((len(images), NB_INSTRUMENTS), dtype=np.int32),
                                 np.zeros(len(images), dtype=np.float32), np.zeros(len(images), dtype=np.int32),
                                 np.zeros(len(images), dtype=np.int32))
        for first in range(0, len(images), self.batch_size):
            batch = images[first:first + self.batch_size]
            torch.set_num_threads(self.threads)
            results = self.model.predict(batch, conf=self.confidence, imgsz=self.imgsz, stream=True, verbose=False)
            for offset, result in enumerate(results):
                kept = self._read_boxes(result.boxes, evidence, first + offset)
                if boxes_out is not None:
                    boxes_out.append(kept)
        return evidence

    def _read_boxes(self, boxes, evidence, frame):
        """Fill row ``frame`` of ``evidence`` from ultralytics ``boxes``; return the instrument boxes kept."""
        kept, people = [], {}
        for class_id, confidence, corners in zip(boxes.cls.cpu().numpy().astype(int), boxes.conf.cpu().numpy(),
                                                 boxes.xyxy.cpu().numpy()):
            class_id, confidence = int(class_id), float(confidence)
            if class_id in self.player_classes:
                evidence.players[frame] = max(evidence.players[frame], confidence)
            if class_id in self.person_classes:
                people[class_id] = people.get(class_id, 0) + 1
            if class_id in self.other_classes:
                evidence.nb_others[frame] += 1
            index = self.class_to_index.get(class_id)
            if index is not None:
                evidence.scores[frame, index] = max(evidence.scores[frame, index], confidence)
                evidence.counts[frame, index] += 1
                kept.append([*(round(float(v), 1) for v in corners), INSTRUMENTS[index].code, round(confidence, 3)])
        instruments = int(evidence.counts[frame].sum()) + int(evidence.nb_others[frame])
        evidence.nb_players[frame] = max(max(people.values(), default=0), instruments)
        return kept
