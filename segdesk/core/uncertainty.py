"""How unsure a model is about one image's proposals: the ranking "Next most uncertain" follows (the
app) and the uncertainty ``segdesk predict`` prints, one rule for both (plain numpy / OpenCV).

The doubt (1 - the chosen class's probability) averaged over the predicted objects and the pixels
within :data:`MARGIN` px of them, where a person's corrections happen; over the whole image when
nothing but background is predicted. Averaged over every pixel instead (the normalized entropy of
the whole image, the ranking before), an image's wide, easy background drowned its objects: on DSB
dev's 30 test images that ranking and the proposals' AP@0.5 were barely related (Spearman -0.02 to
-0.38 over four models), this one strongly (-0.67 to -0.80), and its five most uncertain images
averaged AP@0.5 0.19-0.27 against 0.45-0.52; on generated touching cells, where every image is
proposed well, it follows each image's IoU (-0.79 / -0.95 against -0.35 / -0.24; docs/benchmarks.md,
session 13).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Pixels this close to a predicted object count with it (its outline is where the doubt is).
MARGIN = 4


def doubt_near_objects(class_map: np.ndarray, confidence: np.ndarray, *, background: int = 0) -> float:
    """Mean ``1 - confidence`` over the pixels of predicted objects (any class but ``background``)
    and within :data:`MARGIN` px of them; over all pixels when no object is predicted. 0 = sure."""
    if confidence.size == 0:
        return 0.0
    objects = np.ascontiguousarray(class_map != background).view(np.uint8)  # 0 / 1, no copy
    if not objects.any():
        return float(1.0 - confidence.mean(dtype=np.float64))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * MARGIN + 1, 2 * MARGIN + 1))
    near = cv2.dilate(objects, kernel).view(bool)  # no copy of a huge image's confidence either
    return float(1.0 - confidence.sum(where=near, dtype=np.float64) / np.count_nonzero(near))


__all__ = ["MARGIN", "doubt_near_objects"]
