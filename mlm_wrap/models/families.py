"""GLM families as glmer() takes them (``"binomial"``, statsmodels family objects), mapped to the
engine's :class:`~mlm_wrap.engines.pirls.Family`."""
from __future__ import annotations

import re

from mlm_wrap.errors import caught_warnings
from mlm_wrap.engines.pirls import (
    Family,
    NegBinFamily,
)


# ------------------------------------------------------------------------------ family
_DEFAULT_LINK = {"binomial": "logit", "poisson": "log", "Gamma": "inverse",
                 "inverse.gaussian": "1/mu^2", "gaussian": "identity"}
_FAMILY_ALIASES = {"binomial": "binomial", "poisson": "poisson", "gamma": "Gamma",
                   "inverse.gaussian": "inverse.gaussian", "inverse_gaussian": "inverse.gaussian",
                   "gaussian": "gaussian"}


def _sm_link(link: str):
    from statsmodels.genmod.families import links as L
    return {"logit": L.Logit, "probit": L.Probit, "cloglog": L.CLogLog, "log": L.Log,
            "identity": L.Identity, "sqrt": L.Sqrt, "cauchit": L.Cauchy,
            "inverse": L.InversePower, "1/mu^2": L.InverseSquared}[link]()


def make_family(name: str, link: str | None = None) -> Family:
    """R's ``family(link = )`` (``binomial``, ``poisson``, ``Gamma``, ``inverse.gaussian``,
    ``gaussian``) as the engine's :class:`~mlm_wrap.engines.pirls.Family`; an unknown
    family or a link R's family function refuses is a ``ValueError`` naming it."""
    from statsmodels.genmod import families as smf
    fam = _FAMILY_ALIASES.get(str(name).lower())
    if fam is None:
        raise ValueError(f"unknown family {name!r}: glmer() takes binomial, poisson, Gamma, "
                         "inverse.gaussian and gaussian")
    link = _DEFAULT_LINK[fam] if link is None else str(link).strip()
    if link not in Family.LINKS[fam]:
        raise ValueError(f"link {link!r} not available for the {fam} family; available links "
                         f"are {', '.join(repr(k) for k in Family.LINKS[fam])}")
    cls = {"binomial": smf.Binomial, "poisson": smf.Poisson, "Gamma": smf.Gamma,
           "inverse.gaussian": smf.InverseGaussian, "gaussian": smf.Gaussian}[fam]
    with caught_warnings():  # statsmodels warns about links it calls non-canonical
        return Family(cls(link=_sm_link(link)))


def binomial(link: str = "logit") -> Family:
    """R's ``binomial(link = "logit")``: logit, probit, cloglog, cauchit, log."""
    return make_family("binomial", link)


def poisson(link: str = "log") -> Family:
    """R's ``poisson(link = "log")``: log, sqrt, identity."""
    return make_family("poisson", link)


def Gamma(link: str = "inverse") -> Family:  # noqa: N802 (R's name)
    """R's ``Gamma(link = "inverse")``: inverse, log, identity."""
    return make_family("Gamma", link)


def inverse_gaussian(link: str = "1/mu^2") -> Family:
    """R's ``inverse.gaussian(link = "1/mu^2")``: 1/mu^2, inverse, log, identity."""
    return make_family("inverse.gaussian", link)


def gaussian(link: str = "identity") -> Family:
    """R's ``gaussian(link = "identity")``: identity, log, inverse (glmer() hands the
    identity link to lmer(), as lme4 does)."""
    return make_family("gaussian", link)


def negative_binomial(theta: float, link: str = "log") -> NegBinFamily:
    """MASS's ``negative.binomial(theta, link = "log")``: the negative binomial family with
    known ``theta`` (variance ``mu + mu^2 / theta``; log, sqrt, identity links), MASS's
    ``dev.resids`` and ``aic``; printed as R names it, ``Negative Binomial(2.7606)``.
    :func:`~mlm_wrap.glmer_nb` estimates theta; ``glmer(family=negative_binomial(2))``
    fits with theta fixed."""
    return NegBinFamily(theta, link)


_FAMILY_RE = re.compile(r"\s*([A-Za-z_.]+)\s*(?:\(\s*(?:link\s*=\s*)?(?:[\"']([^\"']*)[\"']|"
                        r"([\w/^.]+))?\s*\))?\s*")


def as_family(family) -> Family:
    """``"binomial"``, ``"Gamma"``, ``'inverse.gaussian(link = "log")'``, a family object
    (``Gamma(link="log")``) or a statsmodels family instance ->
    :class:`~mlm_wrap.engines.pirls.Family`."""
    if isinstance(family, Family):
        return family
    if callable(family) and getattr(family, "__module__", None) == __name__:
        return family()  # family=Gamma, as R's glmer(family = Gamma)
    if isinstance(family, str):
        m = _FAMILY_RE.fullmatch(family)
        if not m:
            raise ValueError(f"family {family!r} is not understood; use e.g. 'binomial', "
                             "'Gamma(link = \"log\")' or a family object")
        link = m.group(2) if m.group(2) is not None else m.group(3)
        return make_family(m.group(1), link)
    if not hasattr(family, "link") or not hasattr(family, "variance"):
        raise TypeError("family must be a family name, a family object (binomial(), Gamma(), "
                        f"...) or a statsmodels family instance, not {type(family).__name__}")
    return Family(family)


def _is_gaussian_identity(family) -> bool:
    """R's ``isTRUE(all.equal(family, gaussian()))``."""
    if family is gaussian:
        return True
    if isinstance(family, Family):
        return family.family == "gaussian" and family.link == "identity"
    if isinstance(family, str):
        return re.fullmatch(r"\s*gaussian\s*(\(\s*(link\s*=\s*)?[\"']?identity[\"']?\s*\)|\(\s*\))?\s*",
                            family) is not None
    return type(family).__name__ == "Gaussian" and type(getattr(family, "link", None)).__name__ == "Identity"
