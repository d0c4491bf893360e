# R references for glmer() with the links the v2 corpus' fam_* cases do not cover:
# binomial cloglog / cauchit / log, Poisson identity, Gamma inverse / identity, Gaussian
# inverse, inverse Gaussian 1/mu^2 / inverse / identity (lme4 1.1-31), at full precision.
# Read by tests/models/test_glmer_families.py.
# Run from the repository root:  Rscript tests/r/families_refs.R
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out_dir <- "tests/r/refs/families"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")))
data(sleepstudy, package = "lme4"); data(cbpp, package = "lme4")

one <- function(id, formula, data_name, family) {
  dat <- get(data_name)
  fam <- eval(parse(text = family))
  m <- eval(substitute(glmer(FORM, data = DAT, family = FAM),
                       list(FORM = as.formula(formula), DAT = as.name(data_name), FAM = parse(text = family)[[1]])))
  vc <- as.data.frame(VarCorr(m))
  x <- list(id = id, data = paste0(data_name, ".csv"), formula = formula, family = family,
            family_name = fam$family, link = fam$link,
            fixef = as.list(fixef(m)), se_fixef = as.list(sqrt(diag(as.matrix(vcov(m))))),
            se_fixef_rx = as.list(sqrt(diag(as.matrix(suppressWarnings(vcov(m, use.hessian = FALSE)))))),
            sigma = sigma(m), logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
            AIC = AIC(m), BIC = BIC(m), deviance = deviance(m),
            varcorr_vcov = vc$vcov, varcorr_grp = vc$grp,
            fitted_head = unname(head(fitted(m), 10)),
            summary_text = paste(capture.output(print(summary(m))), collapse = "\n"),
            versions = versions)
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
             file.path(out_dir, paste0(id, ".json")))
  cat(id, "done\n")
}
cb <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
one("binomial_cloglog", cb, "cbpp", 'binomial(link = "cloglog")')
one("binomial_cauchit", cb, "cbpp", 'binomial(link = "cauchit")')
one("binomial_log", cb, "cbpp", 'binomial(link = "log")')
one("poisson_identity", "size ~ period + (1 | herd)", "cbpp", 'poisson(link = "identity")')
rd <- "Reaction ~ Days + (1 | Subject)"
one("gamma_inverse", rd, "sleepstudy", 'Gamma(link = "inverse")')
one("gamma_identity", rd, "sleepstudy", 'Gamma(link = "identity")')
rs <- "I(Reaction/100) ~ Days + (1 | Subject)"
one("gaussian_inverse", rs, "sleepstudy", 'gaussian(link = "inverse")')
one("invgauss_mu2", rs, "sleepstudy", 'inverse.gaussian(link = "1/mu^2")')
one("invgauss_inverse", rs, "sleepstudy", 'inverse.gaussian(link = "inverse")')
one("invgauss_identity", rs, "sleepstudy", 'inverse.gaussian(link = "identity")')
