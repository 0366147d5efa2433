"""The instrument detector: ultralytics YOLO weights, their class names mapped to our codes.

Any ultralytics weights file (``.pt``) or exported model (``.onnx``, needs onnxruntime) works
by path. Open-vocabulary weights (YOLO-World, YOLOE: a file name containing ``world`` or
``yoloe``) are prompted with the vocabulary's instrument names, which reaches the five
instruments Open Images lacks; their text encoder must be on disk too.

The default is Open Images V7 (``yolov8m-oiv7.pt``), which ultralytics fetches on first use
where there is a network; here nothing is fetched, and missing weights fail in one line.
"""
import os

import numpy as np

from common.errors import ConfigError
from fusion.instruments import INSTRUMENTS, NB_INSTRUMENTS, code_for_class, index_of, load_class_map
from vision.ultralytics_offline import load_yolo

DEFAULT_WEIGHTS = "yolov8m-oiv7.pt"
DEFAULT_CONFIDENCE = 0.25
_OPEN_VOCABULARY_MARKERS = ("world", "yoloe")


class Detector:
    """Detect instruments in frames.

    Args:
        weights: weights path (or a file name in the cache, or a model YAML for tests).
        class_map: optional YAML of extra ``class name: code`` entries.
        confidence: minimum box confidence.
        imgsz: inference size in pixels; None takes the size the weights were trained at (else 640).
        batch_size: frames per predict call.
        threads: CPU threads for inference; None: every core this process may use. Ultralytics
            sets torch to ``cpu_count - 1`` threads when its predictor starts (one thread, half
            the speed, on 2 cores), so the predictor is started here on a blank frame and the
            threads are set before every predict call.
    """

    def __init__(self, weights=DEFAULT_WEIGHTS, class_map=None, confidence=DEFAULT_CONFIDENCE, imgsz=None,
                 batch_size=16, threads=None):
        self.weights, self.class_map_path = str(weights), class_map
        self.confidence, self.batch_size = confidence, batch_size
        self.model = load_yolo(weights)
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        self.threads = threads or available
        self.imgsz = imgsz or self.model.overrides.get("imgsz") or 640
        if any(marker in self.weights.lower() for marker in _OPEN_VOCABULARY_MARKERS):
            self._prompt_with_vocabulary()
        class_map_entries = load_class_map(class_map)
        self.class_to_index = {}
        for class_id, name in self.model.names.items():
            code = code_for_class(name, class_map_entries)
            if code is not None:
                self.class_to_index[int(class_id)] = index_of(code)
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
                "classes_used": {self.model.names[c]: INSTRUMENTS[i].code for c, i in self.class_to_index.items()}}

    def detect(self, images, boxes_out=None):
        """Score each frame.

        Args:
            images: list of BGR uint8 frames ``(height, width, 3)``.
            boxes_out: a list to append, per frame, the instrument boxes to:
                ``[[x1, y1, x2, y2, code, confidence], ...]`` in pixels (for reports).

        Returns:
            ``(scores, counts)``: float32 ``(nb_frames, K)`` highest confidence per instrument
            (0 when unseen) and int ``(nb_frames, K)`` boxes per instrument.
        """
        import torch  # loaded with the weights already; at module level it would slow every CLI's start

        scores = np.zeros((len(images), NB_INSTRUMENTS), dtype=np.float32)
        counts = np.zeros((len(images), NB_INSTRUMENTS), dtype=np.int32)
        for first in range(0, len(images), self.batch_size):
            batch = images[first:first + self.batch_size]
            torch.set_num_threads(self.threads)
            results = self.model.predict(batch, conf=self.confidence, imgsz=self.imgsz, stream=True, verbose=False)
            for offset, result in enumerate(results):
                frame = first + offset
                boxes, kept = result.boxes, []
                for class_id, confidence, corners in zip(boxes.cls.cpu().numpy().astype(int), boxes.conf.cpu().numpy(),
                                                         boxes.xyxy.cpu().numpy()):
                    index = self.class_to_index.get(int(class_id))
                    if index is not None:
                        scores[frame, index] = max(scores[frame, index], float(confidence))
                        counts[frame, index] += 1
                        kept.append([*(round(float(v), 1) for v in corners), INSTRUMENTS[index].code,
                                     round(float(confidence), 3)])
                if boxes_out is not None:
                    boxes_out.append(kept)
        return scores, counts
