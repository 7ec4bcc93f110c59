"""The command-line subcommands behind ``segdesk.cli``: ``train`` (and ``train --distributed``, one
torchrun rank: ``distributed``), ``predict``, ``export onnx`` (``export``) and ``export masks``
(``export_masks``). They sit above the services and ml: they parse arguments and print what the shared
functions do; nothing below imports them. ``cli.py`` imports each inside its handler, so ``segdesk
check`` never loads torch.
"""
