"""Proposals: predict an image, clean the class map up and vectorize it into shapes to review.

Torch-free like the predictor it drives (``segdesk.ml.infer``, which re-exports these names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from segdesk.core.document import Document
from segdesk.core.errors import ModelError
from segdesk.core.postprocess import PostprocessConfig, postprocess
from segdesk.core.shapes import Shape
from segdesk.ml.tiling import Prediction

if TYPE_CHECKING:
    from segdesk.ml.infer import CancelToken, Predictor, ProgressFn


@dataclass
class Proposals:
    """Shapes proposed for one image, with the post-processed class map they were drawn from."""

    shapes: list[Shape]
    class_map: np.ndarray
    prediction: Prediction

    def rasterized(self) -> np.ndarray:
        """The class map exactly as the proposals draw it (what ``--masks-out`` writes)."""
        from segdesk.core.rasterize import shapes_to_label

        values = {name: i for i, name in enumerate(self.prediction.class_names)}
        cls, _ = shapes_to_label(self.class_map.shape, self.shapes, values)
        return cls.astype(self.class_map.dtype)


def propose(
    predictor: Predictor,
    image: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    post: PostprocessConfig | None = None,
    tolerance: float = 1.0,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> Proposals:
    """Predict, post-process and vectorize one image into proposal shapes.

    Every shape carries ``extra = {"source": "model", "proposal": True, "model_version": ...,
    "confidence": <mean confidence inside the shape>}``. ``class_names`` renames the model's classes
    (same count and order); class 0 is background and makes no shapes.
    """
    from segdesk.core.vectorize import class_map_to_shapes

    post = post or PostprocessConfig()
    names = list(class_names) if class_names is not None else predictor.class_names
    if len(names) != len(predictor.class_names):
        raise ModelError(
            None,
            "classes",
            f"{len(names)} class names given for a model of {len(predictor.class_names)} classes",
        )
    pred = predictor.predict(image, cancel=cancel, progress=progress)
    pred.class_names = names
    cleaned = postprocess(pred.class_map, post)
    provenance = {"source": "model", "proposal": True, "model_version": predictor.model_version}
    shapes = class_map_to_shapes(
        cleaned,
        names,
        tolerance=tolerance,
        min_area=max(post.min_area, 1),
        background=post.background,
        ignore_value=None,
        confidence=pred.confidence,
        provenance=provenance,
    )
    return Proposals(shapes=shapes, class_map=cleaned, prediction=pred)


def document_image(document: Document) -> np.ndarray:
    """The pixels of a document's image: the file beside its JSON, else the embedded imageData."""
    from segdesk.core.labelme_io import load_image_for

    return load_image_for(document).data


def predict_document(
    predictor: Predictor,
    document_or_image: Document | np.ndarray,
    class_names: Sequence[str] | None = None,
    *,
    post: PostprocessConfig | None = None,
    tolerance: float = 1.0,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> list[Shape]:
    """Proposal shapes for a document (its image is read) or an image array. See :func:`propose`."""
    if isinstance(document_or_image, Document):
        image = document_image(document_or_image)
    else:
        image = np.asarray(document_or_image)
    result = propose(
        predictor,
        image,
        class_names=class_names,
        post=post,
        tolerance=tolerance,
        cancel=cancel,
        progress=progress,
    )
    return result.shapes


__all__ = ["Proposals", "document_image", "predict_document", "propose"]
