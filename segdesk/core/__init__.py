"""segdesk's core: files, shapes, projects, exports (no Qt, no torch)."""

# The pixel limit must be set before OpenCV is imported (it reads its limit once, at import).
from segdesk.core import pixel_limit as _pixel_limit  # noqa: F401
