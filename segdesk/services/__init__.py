"""The rules the app and the command line share, one function per rule (Qt-free).

- :mod:`~segdesk.services.model_store`: a project's model versions and what the panel shows of them;
- :mod:`~segdesk.services.proposals`: an image's prediction -> proposal shapes, and re-deriving them
  from the kept prediction when a setting changes;
- :mod:`~segdesk.services.proposal_files`: which files and which shapes writing proposals may touch;
- :mod:`~segdesk.services.training`: train, decide promotion, save (and the default budget/priority).

Torch is imported only inside the functions that run a model, so the GUI process imports this
package freely; ``segdesk.ui`` reaches ``segdesk.ml`` only through here.
"""
