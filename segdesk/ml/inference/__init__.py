"""Inference: predicting masks with a checkpoint (infer.py), tiling large images, the torch and
onnxruntime backends, and the ONNX export. Built on the shared pieces in ``segdesk.ml`` (model,
checkpoint, data, normalize, rescale, device); never imports ``segdesk.ml.training``.
"""
