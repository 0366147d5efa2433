"""Offline demo assets: drawn ensemble videos, and a small YOLO detector trained on such frames.

No real instrument images can be downloaded here, so the demo draws its own: each player is a
figure with an instrument whose silhouette, size and colour follow the real one (a violin is a
small brown figure-of-eight, a tuba a large brass oval with a bell). The detector trained on
these frames knows only these drawings; real videos need real weights (``--detector``).

    python -m vision.demo_assets video PIECE_DIR --out DIR      # Vid_NN_Title_codes.mp4 from a URMP piece
    python -m vision.demo_assets train-detector --out models/demo_detector.pt [--images 600 --epochs 30]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.ffmpeg import ffmpeg_exe
from fusion.instruments import CODES, INSTRUMENTS, parse_urmp_name

WOOD, DARK_WOOD, BRASS, SILVER, BLACK = (40, 70, 140), (25, 45, 95), (40, 170, 215), (200, 200, 205), (25, 25, 25)

# code -> (width, height) of the instrument relative to the player's height, and its colour (BGR)
_SHAPES = {"vn": (0.22, 0.12, WOOD), "va": (0.27, 0.14, DARK_WOOD), "vc": (0.30, 0.75, WOOD),
           "db": (0.40, 1.10, DARK_WOOD), "fl": (0.55, 0.05, SILVER), "ob": (0.10, 0.45, BLACK),
           "cl": (0.12, 0.55, BLACK), "sax": (0.25, 0.55, BRASS), "bn": (0.12, 0.85, DARK_WOOD),
           "tpt": (0.40, 0.12, BRASS), "hn": (0.32, 0.32, BRASS), "tbn": (0.70, 0.14, BRASS),
           "tba": (0.45, 0.60, BRASS)}


def _draw_instrument(image, code, x, y, width, height, phase):
    """Draw instrument ``code`` in the box ``(x, y, width, height)``; ``phase`` animates bows and slides."""
    colour = _SHAPES[code][2]
    cx, cy = x + width // 2, y + height // 2
    if code in ("vn", "va", "vc", "db"):
        upright = code in ("vc", "db")
        a, b = (width // 2, height // 4) if not upright else (width // 2, height // 5)
        centres = [(cx, cy - b), (cx, cy + b)] if upright else [(cx - a // 2, cy), (cx + a // 2, cy)]
        for (ex, ey), scale in zip(centres, (0.8, 1.0)):
            axes = (max(2, int(a * scale)), max(2, int(b * 1.3 * scale))) if upright else (max(2, int(a * 0.6 * scale)), max(2, int(b * scale)))
            cv2.ellipse(image, (ex, ey), axes, 0, 0, 360, colour, -1)
        neck = ((cx, y), (cx, cy)) if upright else ((x, cy), (cx, cy))
        cv2.line(image, *neck, BLACK, max(2, width // 12))
        bow = int(np.sin(phase) * width * 0.3)
        if upright:
            cv2.line(image, (cx - width // 2 + bow, cy + b // 2), (cx + width // 2 + bow, cy + b // 3), SILVER, 2)
        else:
            cv2.line(image, (cx + bow, y), (cx + bow + width // 3, y + height), SILVER, 2)
    elif code in ("fl", "ob", "cl", "bn"):
        horizontal = code == "fl"
        thickness = max(3, (height if horizontal else width) // (2 if code == "bn" else 3))
        start, end = ((x, cy), (x + width, cy)) if horizontal else ((cx, y), (cx, y + height))
        cv2.line(image, start, end, colour, thickness)
        for k in range(1, 6):  # keys
            px, py = (x + k * width // 6, cy) if horizontal else (cx, y + k * height // 6)
            cv2.circle(image, (px, py), max(1, thickness // 3), SILVER if colour == BLACK else BLACK, -1)
        if code in ("ob", "cl"):
            cv2.ellipse(image, (cx, y + height), (max(3, width // 2), max(2, height // 12)), 0, 180, 360, colour, -1)
    elif code == "sax":
        cv2.line(image, (x + width // 3, y), (x + width // 3, y + height * 3 // 4), colour, max(4, width // 4))
        cv2.ellipse(image, (cx, y + height * 3 // 4), (width // 3, height // 5), 0, 0, 180, colour, max(4, width // 4))
        cv2.circle(image, (x + width * 5 // 6, y + height * 3 // 5), max(3, width // 5), colour, -1)
    elif code == "tpt":
        cv2.line(image, (x, cy), (x + width * 2 // 3, cy), colour, max(3, height // 3))
        bell = np.array([[x + width * 2 // 3, cy - height // 6], [x + width, y], [x + width, y + height],
                         [x + width * 2 // 3, cy + height // 6]], np.int32)
        cv2.fillPoly(image, [bell], colour)
    elif code == "hn":
        cv2.circle(image, (cx, cy), min(width, height) // 2 - 2, colour, max(3, width // 8))
        cv2.ellipse(image, (x + width, cy), (max(3, width // 5), max(3, height // 4)), 0, 0, 360, colour, -1)
    elif code == "tbn":
        slide = int((np.sin(phase) + 1) * width * 0.15)
        cv2.line(image, (x, cy - height // 4), (x + width // 2 + slide, cy - height // 4), colour, 3)
        cv2.line(image, (x, cy + height // 4), (x + width // 2 + slide, cy + height // 4), colour, 3)
        bell = np.array([[x + width // 2, cy], [x + width, y], [x + width, y + height]], np.int32)
        cv2.fillPoly(image, [bell], colour)
    elif code == "tba":
        cv2.ellipse(image, (cx, cy + height // 6), (width // 2, height // 3), 0, 0, 360, colour, -1)
        cv2.ellipse(image, (cx + width // 5, y + height // 8), (width // 3, height // 8), 0, 0, 360, colour, -1)


def draw_ensemble(codes, size, rng, phase=0.0, layout=None):
    """One frame of players with instruments.

    Args:
        codes: instruments, one per player, left to right.
        size: ``(width, height)`` of the frame.
        rng: numpy Generator (backgrounds, clothes, placement when ``layout`` is None).
        phase: animation phase in radians.
        layout: fixed ``[(x, y, player_height)]`` per player (videos keep players still).

    Returns:
        ``(image BGR uint8 (height, width, 3), boxes [(code, x0, y0, x1, y1)])``.
    """
    width, height = size
    top, bottom = rng.integers(20, 120, 3), rng.integers(60, 200, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    image = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.uint8).copy()
    layout = layout or player_layout(len(codes), size, rng)
    boxes = []
    for code, (px, py, person_h) in zip(codes, layout):
        cloth = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (px - person_h // 6, py - person_h * 2 // 3), (px + person_h // 6, py), cloth, -1)
        cv2.circle(image, (px, py - person_h * 3 // 4), max(3, person_h // 10), (150, 180, 220), -1)
        rel_w, rel_h, _ = _SHAPES[code]
        w, h = max(6, int(rel_w * person_h)), max(6, int(rel_h * person_h))
        x0 = int(np.clip(px - w // 2, 0, width - w - 1))
        y0 = int(np.clip(py - person_h * 2 // 3 + (person_h // 8 if h < person_h // 2 else 0), 0, height - h - 1))
        _draw_instrument(image, code, x0, y0, w, h, phase)
        boxes.append((code, x0, y0, x0 + w, y0 + h))
    return image, boxes


def player_layout(nb_players, size, rng, person_scale=None):
    """``[(x, y_feet, player_height)]`` spread across the frame; heights 35-60% of the frame by default."""
    width, height = size
    person_h = int(height * (person_scale or rng.uniform(0.35, 0.6)))
    xs = (np.arange(nb_players) + 0.5) * width / nb_players + rng.uniform(-0.05, 0.05, nb_players) * width
    return [(int(x), int(height * rng.uniform(0.75, 0.95)), person_h) for x in xs]


def make_video(piece_dir, out_dir, fps=10, size=(320, 180), seed=0):
    """``Vid_NN_Title_codes.mp4``: the players of a URMP-layout piece with its mix as soundtrack."""
    piece_dir = Path(piece_dir)
    piece = parse_urmp_name(piece_dir.name)
    mix = next(piece_dir.glob("AuMix_*.wav"), None)
    if mix is None:
        raise AvsepError(f"{piece_dir} has no AuMix_ file")
    from audio.io import read_audio

    audio, rate = read_audio(mix)
    seconds = audio.shape[1] / rate
    rng = np.random.default_rng(seed)
    layout = player_layout(len(piece.codes), size, rng, person_scale=0.6)  # the closest framing of training
    out = Path(out_dir) / f"Vid_{piece_dir.name}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        silent = Path(tmp, "silent.avi")
        writer = cv2.VideoWriter(str(silent), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
        for index in range(int(seconds * fps)):
            image, _ = draw_ensemble(piece.codes, size, np.random.default_rng([seed, 1]), 2 * np.pi * index / fps, layout)
            writer.write(image)
        writer.release()
        partial = out.with_suffix(".tmp.mp4")
        process = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(silent), "-i", str(mix),
                                  "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "28", "-c:a", "aac", "-b:a", "96k",
                                  "-shortest", str(partial)], capture_output=True, text=True)
        if process.returncode != 0:
            raise AvsepError(f"ffmpeg could not write {out}: {process.stderr.strip()[-200:]}")
        partial.replace(out)
    return out


def make_detector_dataset(root, nb_images, size=(320, 180), seed=0):
    """A YOLO-format dataset of drawn ensembles; returns its ``data.yaml``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (("train", nb_images), ("val", max(nb_images // 8, 8))):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            codes = list(rng.choice(CODES, size=rng.integers(1, 6)))
            image, boxes = draw_ensemble(codes, size, rng, rng.uniform(0, 2 * np.pi))
            cv2.imwrite(str(root / "images" / split / f"{index:05d}.jpg"), image)
            lines = [f"{CODES.index(c)} {(x0 + x1) / 2 / size[0]:.5f} {(y0 + y1) / 2 / size[1]:.5f} "
                     f"{(x1 - x0) / size[0]:.5f} {(y1 - y0) / size[1]:.5f}" for c, x0, y0, x1, y1 in boxes]
            (root / "labels" / split / f"{index:05d}.txt").write_text("\n".join(lines) + "\n")
    data_yaml = root / "data.yaml"
    names = {i: instrument.name for i, instrument in enumerate(INSTRUMENTS)}
    data_yaml.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val",
                                         "names": names}))
    return data_yaml


def train_detector(out, nb_images=600, epochs=30, imgsz=320, seed=0):
    """Train ``yolov8n`` from scratch on drawn frames, offline; save the weights to ``out``."""
    from vision.ultralytics_offline import load_yolo

    with tempfile.TemporaryDirectory(prefix="avsep-detector-") as tmp:
        data_yaml = make_detector_dataset(Path(tmp) / "data", nb_images, seed=seed)
        model = load_yolo("yolov8n.yaml")
        model.train(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=16, device="cpu", workers=0,
                    project=str(Path(tmp) / "runs"), name="demo", exist_ok=True, plots=False, amp=False,
                    pretrained=False, seed=seed, verbose=False, mosaic=0.5, fliplr=0.0)
        best = Path(tmp) / "runs" / "demo" / "weights" / "best.pt"
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, Path(out).with_suffix(".tmp"))
        Path(out).with_suffix(".tmp").replace(out)
    return Path(out)


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m vision.demo_assets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    video = commands.add_parser("video", help="draw a Vid_ video for URMP-layout piece folders")
    video.add_argument("pieces", nargs="+", type=Path)
    video.add_argument("--out", type=Path, required=True)
    video.add_argument("--fps", type=int, default=10)
    detector = commands.add_parser("train-detector", help="train the demo detector on drawn frames")
    detector.add_argument("--out", type=Path, required=True)
    detector.add_argument("--images", type=int, default=600)
    detector.add_argument("--epochs", type=int, default=30)
    detector.add_argument("--imgsz", type=int, default=320)
    add_debug_flag(video)
    add_debug_flag(detector)
    return parser


def _run(args):
    if args.command == "video":
        for piece in tqdm(args.pieces, unit="video"):
            print(make_video(piece, args.out, fps=args.fps))
    else:
        print(train_detector(args.out, args.images, args.epochs, args.imgsz))


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
