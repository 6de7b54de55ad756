"""The lab's life cycle: native local processes (``native``) or the Compose stack (``docker``).

Shared pieces: the Jupyter token (``token``), TLS for a team server (``tls``), the runtime
recorded in the home (``config``), process supervision (``processes``) and ``ServiceStatus``.
"""

from huntlab.lab.status import ServiceStatus

__all__ = ["ServiceStatus"]
