"""posemark: keypoint annotation for pose estimation and human tracking."""

__version__ = "0.1.0"
