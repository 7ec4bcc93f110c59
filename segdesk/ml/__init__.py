"""segdesk's machine learning: the UNet, training, checkpoints, inference (torch and onnxruntime).

onnxruntime writes a telemetry database (``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``) unless
``ORT_DISABLE_TELEMETRY`` is set when it is imported; every ml module is imported through this
package, so setting it here keeps segdesk from writing outside the project (docs/files.md).
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
