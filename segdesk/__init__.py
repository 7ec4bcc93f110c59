"""segdesk: a desktop tool for image segmentation. Imports neither Qt nor torch."""

__version__ = "0.1.0"
