"""Speed of presence from both senses on a 720p video: seconds of video per second of compute.

    python benchmarks/presence_speed.py [VIDEO] [--detector W] [--fps F] [--imgsz S] [--seconds 60]

Default video: ../shared's 1280x720 oboe performance, looped to ``--seconds`` (else a 720p test
pattern with a tone). Default detector: the architecture of the default ``yolov8m-oiv7.pt``
(YOLOv8m, 601 Open Images classes) built untrained, since its speed does not depend on its
training and its weights are not on this machine. Times the picture (frame sampling and
detection, at ``separate_video``'s defaults for both senses unless ``--fps``/``--imgsz``) and the
sound (decoding and the shipped tagger) each alone, then ``pipelines.separate.resolve_presence``
as ``separate_video`` runs it (both at once, fused), in one process after the models are loaded.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.ffmpeg import ffmpeg_exe, probe_media  # noqa: E402

OBOE_720P = ROOT.parent / "shared" / "data" / "video_real" / "mma_oboe-demo.mp4"


def make_video(path, seconds):
    """A 720p video with sound, ``seconds`` long: the shared oboe clip looped, or a test pattern and a tone."""
    if OBOE_720P.exists():
        inputs = ["-stream_loop", "-1", "-i", str(OBOE_720P), "-t", str(seconds), "-c:v", "libx264", "-c:a", "aac"]
    else:
        inputs = ["-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size=1280x720:rate=30", "-f", "lavfi",
                  "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-g", "60", "-c:a", "aac",
                  "-shortest"]
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *inputs, str(path)], check=True)


def default_architecture(folder):
    """A YAML of YOLOv8m with Open Images V7's 601 classes (the default detector's shape)."""
    from vision.ultralytics_offline import load_yolo_class

    load_yolo_class()  # ultralytics configured offline before its first import
    import ultralytics

    source = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    path = Path(folder) / "yolov8m-oiv7.yaml"  # the "m" in the name picks the scale
    path.write_text(source.read_text().replace("nc: 80", "nc: 601"))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--detector", help="weights (default: the default detector's architecture, untrained)")
    parser.add_argument("--fps", type=float, help="frames sampled per second (default: separate_video's with both senses)")
    parser.add_argument("--imgsz", type=int, help="detector input size (default: separate_video's with both senses)")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    from audio.tagger import InstrumentTagger, tag_media
    from fusion.evidence import PICTURE_SAMPLING
    from pipelines.separate import resolve_presence
    from vision.detect_instruments import detect_video
    from vision.detector import Detector

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or Path(tmp) / "video720p.mp4"
        if args.video is None:
            make_video(video, args.seconds)
        fps, max_imgsz = PICTURE_SAMPLING["both"]
        fps = args.fps or fps
        detector = Detector(args.detector or default_architecture(tmp), imgsz=args.imgsz,
                            max_imgsz=None if args.imgsz else max_imgsz)
        tagger = InstrumentTagger()
        info = probe_media(video)
        started = time.perf_counter()
        seen = detect_video(video, detector, fps=fps)
        picture_s = time.perf_counter() - started
        tag_media(video, tagger)
        sound_s = time.perf_counter() - started - picture_s
        started = time.perf_counter()
        resolve_presence(video, detector=detector, fps=fps, presence_from="both", tagger=tagger)
        total_s = time.perf_counter() - started
    name = args.detector or "YOLOv8m, 601 classes (untrained; the default yolov8m-oiv7.pt's architecture)"
    print(f"{info.duration_s:.0f} s of {info.width}x{info.height} video, {name}, {fps:g} frame/s at {detector.imgsz} px:")
    print(f"  each sense alone: picture {picture_s:.1f} s ({seen.meta['frames_sampled']} frames), sound {sound_s:.1f} s")
    print(f"  presence from both senses as separate_video runs it (the sound tagged while the picture is looked at, "
          f"then fused): {total_s:.1f} s, {info.duration_s / total_s:.1f}x real time")


if __name__ == "__main__":
    main()
