"""mrl-eval: embed once at full size, sweep Matryoshka prefix dimensions, measure retrieval quality."""

__version__ = "0.1.0"
