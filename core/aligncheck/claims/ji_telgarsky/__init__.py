"""The claims of Ji & Telgarsky, "Gradient descent aligns the layers of deep linear networks"
(ICLR 2019), registered in the catalogue's order: Theorem 1 (gradient flow), its invariants and
Lemma 2, Theorem 2 (max margin), the data lemmas, the conjectures beyond the paper, and the GD
results of §3 (Lemmas 5, 6, Theorems 3, 4, and a derived identity)."""

# Imported in this order, which is the registry's (and the report's) order.
from aligncheck.claims.ji_telgarsky import theorem1  # noqa: F401, I001
from aligncheck.claims.ji_telgarsky import lemma2  # noqa: F401
from aligncheck.claims.ji_telgarsky import theorem2  # noqa: F401
from aligncheck.claims.ji_telgarsky import data  # noqa: F401
from aligncheck.claims.ji_telgarsky import conjectures  # noqa: F401
from aligncheck.claims.ji_telgarsky import gd  # noqa: F401
