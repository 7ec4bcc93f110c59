"""Exporting a project's annotations as masks: ``masks`` (index / binary / instance / overlay / VOC /
COCO, staged and atomic), with ``render`` (overlays, VOC colours), ``stage`` (the hidden staging folder),
``coco`` (labelme2coco-compatible JSON). ``segdesk export masks`` is ``segdesk.commands.export_masks``;
the model's ONNX export is ``segdesk.ml.inference.export``."""
