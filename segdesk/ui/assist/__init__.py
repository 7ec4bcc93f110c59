"""The model controllers behind the Model dock, one concern each; ``ui/model_assist.ModelAssist`` wires them.

- ``context``: what they share (panel, session, job runner, the current model, the status callbacks);
- ``models``: the project's model versions (show them, switch, warm up);
- ``prediction``: predict the open image, keep predictions, apply proposals as undoable commands;
- ``overlay``: the confidence overlay of the current prediction;
- ``review``: accept / reject proposals, Mark reviewed, the correction-effort meter;
- ``training``: Retrain (plan, run in a child process, the outcome);
- ``batch``: predict all unlabeled images, rank them by uncertainty.

They read the panel through its getters, change the document only through the Session (its undo
stack, its status refresh) and start jobs through the shared JobRunner.
"""
