"""The lab's life cycle behind one interface (``runtime.Runtime``): native local processes
(``native``) or the Compose stack (``docker``).

Shared pieces: the Jupyter token (``token``), TLS for a team server (``tls``), the runtime
recorded in the home (``config``), the one process supervisor (``processes``) and
``ServiceStatus``.
"""

from huntlab.lab.status import ServiceStatus

__all__ = ["ServiceStatus"]
