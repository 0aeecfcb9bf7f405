"""The CDS Hooks 2.0.1 service (CONTRACT §5): vertaid where a procedure is considered or ordered.

    >>> from vertaid.cds import CdsSettings, install_cds
    >>> install_cds(app, CdsSettings.from_environment())     # the web application does this itself

Under ``/cds-services``: discovery, ``patient-view`` (the recommendation and the decision aid),
``order-select`` and ``order-sign`` (vertebroplasty or kyphoplasty orders, CPT 22510-22515) and the
feedback endpoint. Every call needs a JWT from a trusted client (``VERTAID_CDS_ISSUERS``); see
docs/cds-hooks.md. Imported only by the web application.
"""

from vertaid.cds._config import BASE_URL_VARIABLE, ISSUERS_VARIABLE, CdsConfigurationError, CdsSettings
from vertaid.cds._install import install_cds
from vertaid.cds._prefetch import PREFETCH
from vertaid.cds._warm import warm_up

__all__ = [
    "BASE_URL_VARIABLE",
    "ISSUERS_VARIABLE",
    "PREFETCH",
    "CdsConfigurationError",
    "CdsSettings",
    "install_cds",
    "warm_up",
]
