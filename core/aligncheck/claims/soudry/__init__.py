"""The claims of Soudry et al. (2018), "The implicit bias of gradient descent on separable data": a
second theorem checked by the same registry, plugin and report (see aligncheck.claims.registry on
adding one)."""

from aligncheck.claims.soudry import implicit_bias  # noqa: F401  (registers its claims)
