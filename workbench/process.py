"""What an entry point sets before anything else: models offline, libraries quiet, files private.

Library code never touches ``os.environ``; the CLI, the app, the notebook kernels and tests call
:func:`configure_process` first, because several of these variables are read once, when the
library that reads them is imported.
"""

from __future__ import annotations

import os

from workbench.home import PRIVATE_UMASK

ENVIRONMENT = {
    # The models come inside pip packages (or a local cache): never ask the network.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # Loading a model is not long work: no "Loading weights" bar, no advisory warnings.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TQDM_DISABLE": "1",
    # Every LanceDB query otherwise logs a warning about the _distance column.
    "LANCEDB_LOG": "error",
    # Index statistics (read after each compaction) without the vector index's centroids.
    "LANCE_INCLUDE_VECTOR_CENTROIDS": "false",
}


def configure_process() -> None:
    """Set each variable of ``ENVIRONMENT`` the user has not set already, and make every file
    this process creates owner-only (the home holds personal conversations)."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.umask(PRIVATE_UMASK)
