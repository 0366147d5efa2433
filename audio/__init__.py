"""Audio: media I/O and resampling, the Keras Wave-U-Net, inference, training, baselines."""
