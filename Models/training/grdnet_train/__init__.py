"""GRD-Net-Edge training, evaluation and export (PyTorch, CPU is enough)."""
__version__ = "0.1.0"
