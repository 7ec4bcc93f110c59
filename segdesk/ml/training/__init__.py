"""Training: the data pipeline's augmentations, losses, one step, the schedule, the fingerprint and plan
of a run, ``fine_tune`` (train.py), evaluation on the held-out split, the promotion verdict, and the
multi-GPU (distributed) run. Built on the shared pieces in ``segdesk.ml`` (model, checkpoint, data,
normalize, metrics, rescale, device); never imports ``segdesk.ml.inference``.
"""
