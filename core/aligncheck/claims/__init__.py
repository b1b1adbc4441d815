"""Claims: the verdicts and the limit judge, the registry, the assumptions, and the papers' claims.

Importing this package registers every paper's claims (each paper a sub-package); the registry
(:mod:`aligncheck.claims.registry`) then lists them in registration order.
"""

from aligncheck.claims import check, registry  # noqa: F401
from aligncheck.claims import ji_telgarsky  # noqa: F401  (registers its claims)
from aligncheck.claims import soudry  # noqa: F401  (registers its claims)
