"""The services' default HTTP ports: part of the contract (the brief, Compose, the CLI's defaults).

Declared once here so that the services' settings, `orderflow up` and `orderflow status` cannot
disagree about where a service listens when nothing says otherwise.
"""

from typing import Final

ORDER_SERVICE_PORT: Final = 3001
PAYMENT_SERVICE_PORT: Final = 3002
