"""Detection speed: seconds of video per second of compute, and frames decoded vs sampled.

    python benchmarks/detect_speed.py [VIDEO] [--detector W] [--fps 1] [--imgsz 640]

Default: a 60 s 1280x720 test video made with ffmpeg, and an untrained nano YOLO built from
``yolov8n.yaml`` (the speed of a nano detector does not depend on its training).
"""
import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from common.ffmpeg import ffmpeg_exe, probe_media
from vision.detect_instruments import detect_video
from vision.detector import Detector


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--detector", default="yolov8n.yaml")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            video = Path(tmp) / "test.mp4"
            subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                            "testsrc2=duration=60:size=1280x720:rate=30", "-c:v", "libx264", "-g", "60",
                            str(video)], check=True)
        detector = Detector(args.detector, imgsz=args.imgsz)
        duration = probe_media(video).duration_s
        start = time.perf_counter()
        presence = detect_video(video, detector, fps=args.fps)
        elapsed = time.perf_counter() - start
    info = probe_media(args.video) if args.video else None
    size = f"{info.width}x{info.height}" if info else "1280x720"
    print(f"{duration:.0f} s of {size} video, {args.detector} at imgsz {args.imgsz}, {args.fps:g} frame/s: "
          f"{elapsed:.1f} s, {duration / elapsed:.1f}x real time; frames sampled {presence.meta['frames_sampled']}, "
          f"decoded {presence.meta['frames_decoded']}")


if __name__ == "__main__":
    main()
