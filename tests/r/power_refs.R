# R reference for mlm_wrap.toolbox.power (simr's powerSim, checked without simr, which is not
# packaged here): an independent Monte Carlo loop with lme4 itself.  For each simulation a new
# response is drawn by simulate(m, newparams = ) from the fitted parameters with the Days
# coefficient set to `effect` (new random effects and residuals, use.u = FALSE), the full and
# the reduced model are refitted by ML and compared by anova() (the likelihood-ratio test
# simr's fixed("Days", "lr") makes); for the Satterthwaite case the REML fit is refitted and
# lmerTest's t-test of Days is read.  The power is the share of p-values under alpha, with
# binom.test's exact interval (simr's binom.confint(method = "exact")).
#
# glmer fits (simr's powerSim of a glmerMod): the same loop with glmer.  Each simulated
# response (simulate(m, newparams = list(beta, theta)), use.u = FALSE) is fitted by a new
# glmer() call on the data with the response replaced, as simr's doFit does, and tested by
# simr's default for a GLMM, the z-test of summary()'s Pr(>|z|) (fixed(x, "z")), or by the
# likelihood ratio of the fits with and without the term (fixed(x, "lr"): drop1's chi-square
# on the deviance difference).  Warnings (glmer's convergence checks) and errors are counted
# per simulation as simr counts them; a failed fit's p-value is NA and counts as no success.
# Data: cbpp with cbind(incidence, size - incidence) (z-test of period2, LRT of the factor
# period), and a seeded Poisson data set with an offset(log(t)) (written beside the
# references, poisson_offset.csv, for the Python tests).  The fits run on 2 cores
# (parallel::mclapply; the responses are drawn beforehand in this process, so the result
# does not depend on the number of cores).
# Run from the repository root:  Rscript tests/r/power_refs.R [sleepstudy|glmer]
# Writes tests/r/refs/power/sleepstudy_int.json, cbpp_glmer.json, poisson_glmer.json and
# poisson_offset.csv.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
out <- "tests/r/refs/power"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")))
which_refs <- commandArgs(TRUE)
if (!length(which_refs)) which_refs <- c("sleepstudy", "glmer")
if ("sleepstudy" %in% which_refs) {
set.seed(20261204)
m <- lme4::lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy)
ml1 <- lme4::lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy, REML = FALSE)
ml0 <- lme4::lmer(Reaction ~ 1 + (1 | Subject), data = sleepstudy, REML = FALSE)
alpha <- 0.05
cases <- list()
for (effect in c(1.6, 0)) {
  for (method in c("lrt", "satterthwaite")) {
    nsim <- if (method == "lrt") 2000 else 1000
    beta <- fixef(m); beta[["Days"]] <- effect
    pars <- list(beta = unname(beta), theta = getME(m, "theta"), sigma = sigma(m))
    Y <- simulate(m, nsim = nsim, newparams = pars, use.u = FALSE)
    p <- vapply(seq_len(nsim), function(i) {
      y <- Y[[i]]
      if (method == "lrt") {
        a <- suppressMessages(anova(refit(ml0, y), refit(ml1, y)))
        a[["Pr(>Chisq)"]][2]
      } else {
        f <- lmerTest::as_lmerModLmerTest(refit(m, y))
        summary(f)$coefficients["Days", "Pr(>|t|)"]
      }
    }, numeric(1))
    x <- sum(p < alpha)
    ci <- binom.test(x, nsim)$conf.int
    cases[[length(cases) + 1]] <- list(method = method, effect = effect, nsim = nsim,
                                       alpha = alpha, successes = x, power = x / nsim,
                                       lower = ci[1], upper = ci[2])
  }
}
res <- list(id = "sleepstudy_int", formula = "Reaction ~ Days + (1 | Subject)", data = "sleepstudy",
            test = "Days", versions = versions, cases = cases)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out, "sleepstudy_int.json"))
}

# ------------------------------------------------------------------------------ glmer
glmer_power <- function(m, data, resp, test, method, effect, nsim, alpha = 0.05, cores = 2) {
  beta <- fixef(m)
  if (!is.null(effect)) beta[[test]] <- effect
  Y <- simulate(m, nsim = nsim, newparams = list(beta = beta, theta = getME(m, "theta")),
                use.u = FALSE)
  fam <- family(m)
  f1 <- formula(m)
  drop <- if (test %in% names(data)) test else sub("[0-9]+$", "", test)  # a column's term
  f0 <- update(f1, as.formula(paste(". ~ . -", drop)))
  one <- function(i) {
    y <- Y[[i]]
    d <- data
    d[[resp]] <- if (is.matrix(y)) y[, 1] else y
    w <- character()
    p <- withCallingHandlers(tryCatch({
      fit <- glmer(f1, data = d, family = fam)
      if (method == "z") {
        summary(fit)$coefficients[test, "Pr(>|z|)"]
      } else {
        fit0 <- glmer(f0, data = d, family = fam)
        chisq <- max(0, 2 * (as.numeric(logLik(fit)) - as.numeric(logLik(fit0))))
        pchisq(chisq, length(fixef(fit)) - length(fixef(fit0)), lower.tail = FALSE)
      }
    }, error = function(e) structure(NA_real_, error = conditionMessage(e))),
    warning = function(cw) {w <<- c(w, conditionMessage(cw)); invokeRestart("muffleWarning")},
    message = function(cm) invokeRestart("muffleMessage"))
    list(p = as.numeric(p), warn = length(w) > 0, err = !is.null(attr(p, "error")))
  }
  r <- parallel::mclapply(seq_len(nsim), one, mc.cores = cores)
  p <- vapply(r, `[[`, numeric(1), "p")
  x <- sum(p < alpha, na.rm = TRUE)
  ci <- binom.test(x, nsim)$conf.int
  list(method = method, test = test, effect = if (is.null(effect)) NA else effect, nsim = nsim,
       alpha = alpha, successes = x, power = x / nsim, lower = ci[1], upper = ci[2],
       warnings = sum(vapply(r, `[[`, logical(1), "warn")),
       errors = sum(vapply(r, `[[`, logical(1), "err")))
}

write_glmer_ref <- function(id, m, data, resp, data_name, cases) {
  res <- list(id = id, formula = paste(deparse(formula(m)), collapse = " "),
              family = family(m)$family, data = data_name, versions = versions,
              fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")), cases = cases)
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
             file.path(out, paste0(id, ".json")))
}

if ("glmer" %in% which_refs) {
  RNGkind("Mersenne-Twister", "Inversion", "Rejection")
  set.seed(20261205)
  gb <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial,
              data = cbpp)
  cases <- list(glmer_power(gb, cbpp, "incidence", "period2", "z", -0.5, 1000),
                glmer_power(gb, cbpp, "incidence", "period2", "z", 0, 1000),
                glmer_power(gb, cbpp, "incidence", "period", "lr", NULL, 500))
  write_glmer_ref("cbpp_glmer", gb, cbpp, "incidence", "cbpp", cases)

  set.seed(20261206)
  ng <- 30; per <- 8
  pois <- data.frame(g = factor(sprintf("g%02d", rep(seq_len(ng), each = per))),
                     x = round(runif(ng * per, -1, 1), 3), t = round(runif(ng * per, 1, 3), 2))
  u <- rnorm(ng, 0, 0.5)
  pois$y <- rpois(nrow(pois), exp(0.5 + 0.1 * pois$x + log(pois$t) + u[as.integer(pois$g)]))
  write.csv(pois, file.path(out, "poisson_offset.csv"), row.names = FALSE)
  gp <- glmer(y ~ x + offset(log(t)) + (1 | g), family = poisson, data = pois)
  cases <- list(glmer_power(gp, pois, "y", "x", "z", 0.12, 1000),
                glmer_power(gp, pois, "y", "x", "lr", 0.12, 1000),
                glmer_power(gp, pois, "y", "x", "lr", 0, 1000))
  write_glmer_ref("poisson_glmer", gp, pois, "y", "poisson_offset.csv", cases)
}
