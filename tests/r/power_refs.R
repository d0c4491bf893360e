# R reference for mlm_wrap.toolbox.power (simr's powerSim, checked without simr, which is not
# packaged here): an independent Monte Carlo loop with lme4 itself.  For each simulation a new
# response is drawn by simulate(m, newparams = ) from the fitted parameters with the Days
# coefficient set to `effect` (new random effects and residuals, use.u = FALSE), the full and
# the reduced model are refitted by ML and compared by anova() (the likelihood-ratio test
# simr's fixed("Days", "lr") makes); for the Satterthwaite case the REML fit is refitted and
# lmerTest's t-test of Days is read.  The power is the share of p-values under alpha, with
# binom.test's exact interval (simr's binom.confint(method = "exact")).
# Run from the repository root:  Rscript tests/r/power_refs.R
# Writes tests/r/refs/power/sleepstudy_int.json.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
out <- "tests/r/refs/power"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")))
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
