"""Where vision meets audio: the instrument vocabulary, presence, and conditioning layers.

``fusion.instruments`` is framework-free (numpy only); conditioning layers that need Keras
live in their own modules so that vision processes never import TensorFlow.
"""
