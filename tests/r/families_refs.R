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

# ------------------------------------------------------------------------------------------
# simulate / bootMer / residuals / confint for every glmer family (issue #15), read by
# tests/inference/test_glmm_boot.py and tests/models/test_glmer_residuals.py.  The fits
# use the v2 corpus' data as the Python tests read them (tests/r/refs/v2/data).
#
# R's RNG cannot be reproduced, so simulate() and bootMer() are recorded as Monte-Carlo
# moments: per observation the mean, variance and 4th central moment of NSIM_SIM draws of
# simulate(m) (binomial cbind(): the proportion of successes), and per statistic the mean
# and sd of NBOOT bootMer() replicates of confint.merMod's bootFun.
#
# lme4 1.1-31's Gamma and inverse.gaussian simulation functions use sigma(m) where the
# dispersion sigma(m)^2 belongs (shape = w / sigma); lme4 fixed this upstream (issue #782,
# PR #841: shape 1 / sigma^2).  The references use the fixed functions (patched into
# lme4's simfunList below), as mlm_wrap does; everything else is lme4 1.1-31's own code.
suppressPackageStartupMessages({ library(MASS); library(statmod) })
inf_dir <- file.path(out_dir, "inference")
dir.create(inf_dir, showWarnings = FALSE, recursive = TRUE)
ns <- asNamespace("lme4")
sfl <- get("simfunList", envir = ns)
sfl$Gamma <- function(object, nsim, ftd = fitted(object), wts = weights(object)) {
  shape <- wts / sigma(object)^2
  rgamma(nsim * length(ftd), shape = shape, rate = shape / ftd)
}
sfl$inverse.gaussian <- function(object, nsim, ftd = fitted(object), wts = weights(object)) {
  statmod::rinvgauss(nsim * length(ftd), mean = ftd, shape = wts / sigma(object)^2)
}
unlockBinding("simfunList", ns); assign("simfunList", sfl, envir = ns); lockBinding("simfunList", ns)

read_v2 <- function(name) {
  d <- read.csv(file.path("tests/r/refs/v2/data", paste0(name, ".csv")), stringsAsFactors = FALSE)
  lv <- jsonlite::fromJSON(file.path("tests/r/refs/v2/data", paste0(name, ".levels.json")))
  for (f in names(lv)) d[[f]] <- factor(as.character(d[[f]]), levels = lv[[f]])
  d
}
for (nm in c("sleepx", "faculty", "nbsim", "cbpp")) assign(nm, read_v2(nm), envir = globalenv())

arr <- function(x) I(unname(x))  # a JSON array even for one value
table_json <- function(m) {
  m <- as.matrix(m)
  list(index = arr(rownames(m)), columns = arr(colnames(m)), data = unname(m))
}
NSIM_SIM <- 4000L
NBOOT <- 400L
bootFun <- function(x) {  # confint.merMod's bootFun (oldNames = FALSE's order)
  th <- x@theta; nvec <- lengths(x@cnms)
  useSc <- as.logical(x@devcomp$dims[["useSc"]])
  ss <- if (useSc) c(lme4:::Cv_to_Sv(th, n = nvec), sigma(x)) else lme4:::Cv_to_Sv(th, n = nvec)
  c(ss, fixef(x))
}
sim_prop <- function(s) {  # a simulate() column as glm's response (cbind -> proportion)
  if (is.matrix(s)) s[, 1] / rowSums(s) else as.numeric(s)
}

inference_case <- function(id, r_call, data_name, boot = TRUE) {
  m <- suppressWarnings(eval(parse(text = r_call)))
  S <- suppressMessages(suppressWarnings(simulate(m, nsim = NSIM_SIM, seed = 101)))
  Y <- vapply(S, sim_prop, numeric(nobs(m)))
  mu <- rowMeans(Y)
  ctr <- Y - mu
  x <- list(id = id, r_call = r_call, data = paste0(data_name, ".csv"),
            family = family(m)$family, link = family(m)$link,
            fixef = as.list(fixef(m)), sigma = sigma(m), theta = unname(getME(m, "theta")),
            sim_nsim = NSIM_SIM, sim_mean = unname(mu), sim_var = unname(rowMeans(ctr^2)),
            sim_m4 = unname(rowMeans(ctr^4)))
  for (type in c("deviance", "pearson", "working", "response"))
    x[[paste0("resid_", type)]] <- unname(residuals(m, type = type))
  x$wald <- table_json(confint(m, method = "Wald"))
  x$profile <- tryCatch(table_json(confint(profile(m, signames = FALSE))),
                        error = function(e) list(error = conditionMessage(e)))
  if (boot) {
    bb <- suppressMessages(suppressWarnings(bootMer(m, bootFun, nsim = NBOOT, seed = 102)))
    tt <- bb$t[stats::complete.cases(bb$t), , drop = FALSE]
    x$boot <- list(nsim = nrow(tt), names = arr(names(bb$t0)), t0 = arr(bb$t0),
                   mean = arr(colMeans(tt)), sd = arr(apply(tt, 2, sd)))
    ci <- suppressMessages(suppressWarnings(confint(m, method = "boot", nsim = 20, seed = 103)))
    x$boot_ci_rows <- arr(rownames(ci))
  }
  x$versions <- versions
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
             file.path(inf_dir, paste0(id, ".json")))
  cat(id, "done\n")
}
inference_case("gamma_log", 'glmer(Reaction ~ Days + (1 | Subject), data = sleepx, family = Gamma(link = "log"))', "sleepx")
inference_case("invgauss_log", 'glmer(Reaction ~ Days + (1 | Subject), data = sleepx, family = inverse.gaussian(link = "log"))', "sleepx")
inference_case("gauss_log", 'glmer(salary ~ experience + (1 | department), data = faculty, family = gaussian(link = "log"))', "faculty")
inference_case("nb", "glmer.nb(count ~ x + (1 | plot), data = nbsim)", "nbsim")
inference_case("binomial_cbind", "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)", "cbpp")
inference_case("binomial_prop", "glmer(incidence / size ~ period + (1 | herd), data = cbpp, family = binomial, weights = size)", "cbpp")
inference_case("poisson_log", "glmer(incidence ~ period + (1 | herd), data = cbpp, family = poisson)", "cbpp")
