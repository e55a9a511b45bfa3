"""rgasc: relation-guided acoustic scene classification aided with event embeddings.

Nothing here touches the network or loads torch at import time beyond what submodules need.
"""

__version__ = "0.1.0"
