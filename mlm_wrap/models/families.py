"""GLM families as glmer() takes them (``"binomial"``, statsmodels family objects), mapped to the
engine's :class:`~mlm_wrap.engines.pirls.Family`."""
from __future__ import annotations

import re

from mlm_wrap.engines.pirls import (
    Family,
)


# ------------------------------------------------------------------------------ family
def as_family(family) -> Family:
    """``"binomial"``, ``"poisson"``, ``'binomial(link = "probit")'`` or a statsmodels
    family instance -> :class:`~mlm_wrap.engines.pirls.Family`."""
    from statsmodels.genmod import families as smf
    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        m = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*(?:link\s*=\s*)?[\"']?(\w+)?[\"']?\s*\))?\s*", family)
        if not m:
            raise ValueError(f"family {family!r} is not understood; use 'binomial', 'poisson' "
                             "or a statsmodels family instance")
        name, link = m.group(1).lower(), m.group(2)
        links = {"logit": smf.links.Logit, "probit": smf.links.Probit,
                 "cloglog": smf.links.CLogLog, "log": smf.links.Log,
                 "identity": smf.links.Identity, "sqrt": smf.links.Sqrt,
                 "cauchit": smf.links.Cauchy, "inverse": smf.links.InversePower}
        fams = {"binomial": smf.Binomial, "poisson": smf.Poisson,
                "gaussian": smf.Gaussian, "gamma": smf.Gamma,
                "inverse.gaussian": smf.InverseGaussian}
        if name not in fams:
            raise ValueError(f"unknown family {name!r}: use 'binomial' or 'poisson'")
        if link is not None and link not in links:
            raise ValueError(f"unknown link {link!r} for family {name!r}")
        family = fams[name](link=links[link]()) if link else fams[name]()
    if not hasattr(family, "link") or not hasattr(family, "variance"):
        raise TypeError("family must be 'binomial', 'poisson' or a statsmodels family instance, "
                        f"not {type(family).__name__}")
    return Family(family)


def _is_gaussian_identity(family) -> bool:
    """R's ``isTRUE(all.equal(family, gaussian()))``."""
    if isinstance(family, str):
        return re.fullmatch(r"\s*gaussian\s*(\(\s*(link\s*=\s*)?[\"']?identity[\"']?\s*\)|\(\s*\))?\s*",
                            family) is not None
    return type(family).__name__ == "Gaussian" and type(getattr(family, "link", None)).__name__ == "Identity"
