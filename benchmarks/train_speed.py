"""Training throughput of the separator: examples/s of full training steps on random data.

    python benchmarks/train_speed.py [--levels 12 --filters 24 --batch 16 --steps 10 --precision float32 --loss mse]
    python benchmarks/train_speed.py --config configs/masknet.yaml   # the model of a config (any architecture)
    KERAS_BACKEND=jax python benchmarks/train_speed.py ...

Prints one line: backend, model size, precision, examples/s (after 2 warm-up steps).
"""
import argparse
import time

import numpy as np

from audio.architectures import build_separator, describe
from audio.backend import keras
from audio.losses import LOSSES, WEIGHTED_LOSSES, build_loss
from audio.waveunet import WaveUNet
from pipelines.train import load_config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=12)
    parser.add_argument("--filters", type=int, default=24)
    parser.add_argument("--output-length", type=int, default=16389)
    parser.add_argument("--config", help="YAML config whose model section to build instead (--levels etc. ignored)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--loss", default="mse", choices=(*LOSSES, *WEIGHTED_LOSSES))
    args = parser.parse_args(argv)
    keras.mixed_precision.set_global_policy(args.precision)
    if args.config:
        model = build_separator(load_config(args.config)["model"])
    else:
        model = WaveUNet(output_length=args.output_length, nb_levels=args.levels, nb_filters=args.filters)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=build_loss({"loss": args.loss}))
    rng = np.random.default_rng(0)
    inputs = {"mix": rng.uniform(-0.5, 0.5, (args.batch, model.input_length, 1)).astype(np.float32),
              "presence": (rng.random((args.batch, 13)) < 0.3).astype(np.float32)}
    targets = rng.uniform(-0.1, 0.1, (args.batch, 13, model.output_length, 1)).astype(np.float32)
    for _ in range(2):
        model.train_on_batch(inputs, targets)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(inputs, targets)
    elapsed = time.perf_counter() - start
    print(f"{keras.backend.backend()}: {describe(model.settings)} "
          f"({model.count_params() / 1e6:.2f}M params), in {model.input_length} / out {model.output_length}, "
          f"batch {args.batch}, {args.precision}, loss {args.loss}: {args.steps * args.batch / elapsed:.1f} examples/s")


if __name__ == "__main__":
    main()
