#!/usr/bin/env Rscript
# R reference cases for mlm_wrap's glmer(), in the format of the shared corpus
# (/work/shared/r-reference: cases/ID.json + data/NAME.csv + data/NAME.levels.json).
#
#   Rscript tests/r/make_glmm_refs.R          # from the project root (or anywhere)
#
# Writes (overwrites) only its own files: tests/data/r-extra/cases/glmm_*.json and
# tests/data/r-extra/data/glmm_*.{csv,levels.json}.  Check with
#   python /work/shared/r-reference/parity.py tests/data/r-extra/cases --kind glmer
#
# Needs R >= 4.2 with lme4 (1.1-31 made the committed files), arm, jsonlite.
#
# Conventions are the shared corpus's (see tests/r/make_extra_refs.R): tables are
# {index, columns, data}; numbers at full precision; fitted_rows 1-based positions;
# predict_rows 1-based data rows (as strings); printouts are capture.output().
# As in the corpus's glmer cases, `deviance` is deviance(m) (the sum of squared deviance
# residuals), `logLik` is -opt$fval/2, `fitted` is on the response scale and the
# predictions are on the link scale.  `family` is the text given to glmer(family = ...),
# which mlm_wrap.glmer() accepts as is.

suppressPackageStartupMessages({
  library(lme4)
  library(arm)        # display(), se.ranef()
  library(jsonlite)
})

script_path <- function() {
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(a)) return(normalizePath(sub("^--file=", "", a[1])))
  normalizePath("tests/r/make_glmm_refs.R")
}
ROOT <- dirname(dirname(dirname(script_path())))
OUT <- Sys.getenv("MLM_WRAP_REXTRA_OUT", file.path(ROOT, "tests", "data", "r-extra"))
dir.create(file.path(OUT, "cases"), recursive = TRUE, showWarnings = FALSE)
dir.create(file.path(OUT, "data"), recursive = TRUE, showWarnings = FALSE)

arr <- function(x) I(unname(x))
to_json <- function(x) toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA,
                              na = "null", null = "null")
write_json_file <- function(x, path) writeLines(to_json(x), path, useBytes = TRUE)
table_json <- function(m) {
  m <- as.matrix(m)
  list(index = arr(rownames(m)), columns = arr(colnames(m)), data = unname(m))
}
text_of <- function(f) paste(capture.output(f()), collapse = "\n")

write_data <- function(df, name) {
  assign(name, df, envir = globalenv())
  utils::write.csv(df, file.path(OUT, "data", paste0(name, ".csv")), row.names = FALSE, na = "")
  facs <- names(df)[vapply(df, is.factor, logical(1))]
  lv <- lapply(facs, function(f) arr(levels(df[[f]])))
  names(lv) <- facs
  write_json_file(if (length(lv)) lv else list(), file.path(OUT, "data", paste0(name, ".levels.json")))
  invisible(df)
}

make_case <- function(id, data_name, formula, family = "binomial", weights = NULL, nAGQ = 1L,
                      predict_rows = 1:5, extra = list()) {
  r_call <- sprintf("glmer(%s, data = %s, family = %s%s%s)", formula, data_name, family,
                    if (is.null(weights)) "" else paste0(", weights = ", weights),
                    if (nAGQ == 1L) "" else paste0(", nAGQ = ", nAGQ))
  warns <- character()
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(eval(parse(text = r_call)[[1]], envir = globalenv()),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { warns <<- c(warns, trimws(conditionMessage(w))); invokeRestart("muffleMessage") })
  secs <- proc.time()[["elapsed"]] - t0
  d <- get(data_name, envir = globalenv())

  ll <- logLik(m)
  vc <- as.data.frame(VarCorr(m))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = as.character(vc$grp[i]), var1 = as.character(vc$var1[i]),
    var2 = as.character(vc$var2[i]), vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  re <- ranef(m, condVar = TRUE)
  rc <- as.data.frame(re)
  se_re <- tryCatch(lapply(arm::se.ranef(m), table_json), error = function(e) NULL)
  nd <- d[predict_rows, , drop = FALSE]
  fit <- fitted(m)
  out <- list(
    id = id, data = paste0(data_name, ".csv"), formula = formula, REML = FALSE,
    r_call = r_call, family = family, weights = weights, nAGQ = nAGQ,
    r_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
    r_fit_seconds = secs,
    fixef = as.list(fixef(m)),
    se_fixef = as.list(sqrt(diag(as.matrix(vcov(m))))),
    vcov = unname(as.matrix(vcov(m))),
    varcorr = varcorr, sigma = sigma(m),
    logLik = as.numeric(ll), df = attr(ll, "df"),
    deviance = deviance(m), REMLcrit = NULL,
    AIC = AIC(m), BIC = BIC(m),
    nobs = nobs(m), ngrps = as.list(ngrps(m)), isSingular = isSingular(m),
    coef = lapply(coef(m), table_json), ranef = lapply(re, table_json),
    se_ranef = se_re,
    ranef_condsd = list(grpvar = arr(as.character(rc$grpvar)), term = arr(as.character(rc$term)),
                        grp = arr(as.character(rc$grp)), condval = arr(rc$condval),
                        condsd = arr(rc$condsd)),
    fitted_rows = arr(seq_along(fit)), fitted = arr(unname(fit)),
    residuals = arr(unname(residuals(m))),
    pearson_residuals = arr(unname(residuals(m, type = "pearson"))),
    theta = arr(getME(m, "theta")),
    optinfo_derivs = if (is.null(m@optinfo$derivs)) NULL else
      list(gradient = arr(m@optinfo$derivs$gradient), Hessian = unname(m@optinfo$derivs$Hessian)),
    r_messages = arr(unique(warns)),
    coefficients = table_json(summary(m)$coefficients),
    confint_wald = table_json(confint(m, parm = "beta_", method = "Wald")),
    predict_rows = arr(rownames(nd)),
    predict_conditional = arr(unname(predict(m, newdata = nd))),
    predict_population = arr(unname(predict(m, newdata = nd, re.form = NA))),
    predict_response = arr(unname(predict(m, newdata = nd, type = "response"))),
    summary_text = text_of(function() print(summary(m))),
    display_text = text_of(function() display(m)),
    varcorr_text = text_of(function() print(VarCorr(m)))
  )
  # lme4's deviance function itself (update(m, devFunOnly = TRUE): the stage-2 function,
  # or for nAGQ = 0 the stage-1 one) at the optimum and at two points away from it
  f <- update(m, devFunOnly = TRUE)
  p0 <- if (nAGQ == 0L) getME(m, "theta") else c(getME(m, "theta"), fixef(m))
  pts <- list(p0, p0 * 1.1 + 0.02, p0 * 0.9 - 0.05)
  out$devfun_checks <- lapply(pts, function(p) list(par = arr(p), value = f(p)))
  for (k in names(extra)) out[[k]] <- extra[[k]]
  write_json_file(out, file.path(OUT, "cases", paste0(id, ".json")))
  cat(sprintf("%-24s nobs %5d  logLik %12.4f  (%.2fs)%s\n", id, nobs(m), as.numeric(ll), secs,
              if (length(warns)) paste0("  [", paste(unique(warns), collapse = "; "), "]") else ""))
  invisible(m)
}

main <- function() {
  # 1. lme4's grouseticks: Poisson counts, two grouping factors (BROOD nested in LOCATION)
  gt <- lme4::grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
  gt$INDEX <- as.integer(as.character(gt$INDEX))
  write_data(gt, "glmm_grouseticks")
  make_case("glmm_grouseticks", "glmm_grouseticks",
            "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", family = "poisson",
            predict_rows = c(1, 2, 50, 200, 403))
  # 1b. observation-level random effect (one level per row: glmer's allow.n) and nesting
  make_case("glmm_grouseticks_olre", "glmm_grouseticks",
            "TICKS ~ YEAR + (1 | INDEX) + (1 | LOCATION/BROOD)", family = "poisson",
            predict_rows = c(1, 2, 50, 200, 403))

  # 2. simulated 0/1 response on a crossed design: 60 subjects x 40 items, a subject slope
  set.seed(20240611)
  ns <- 60; ni <- 40
  g <- expand.grid(item = seq_len(ni), subject = seq_len(ns))
  s0 <- rnorm(ns, sd = 0.9); s1 <- rnorm(ns, sd = 0.5); i0 <- rnorm(ni, sd = 0.6)
  x <- round(rnorm(nrow(g)), 3)
  cond <- factor(ifelse(g$item %% 2 == 0, "treat", "ctrl"), levels = c("ctrl", "treat"))
  eta <- -0.3 + 0.8 * x + 0.5 * (cond == "treat") + s0[g$subject] + s1[g$subject] * x + i0[g$item]
  y <- rbinom(nrow(g), 1, plogis(eta))
  bin <- data.frame(subject = factor(sprintf("s%02d", g$subject), levels = sprintf("s%02d", 1:ns)),
                    item = factor(sprintf("i%02d", g$item), levels = sprintf("i%02d", 1:ni)),
                    x = x, cond = cond, y = y)
  write_data(bin, "glmm_binary")
  make_case("glmm_binary_crossed", "glmm_binary",
            "y ~ x + cond + (1 + x | subject) + (1 | item)", family = "binomial",
            predict_rows = c(1, 2, 41, 1000, 2400))

  # 3. simulated counts with an exposure offset in the formula
  set.seed(7)
  nsite <- 25
  site <- factor(sprintf("site%02d", rep(seq_len(nsite), each = 12)), levels = sprintf("site%02d", 1:nsite))
  trt <- factor(rep(c("A", "B", "C"), length.out = length(site)), levels = c("A", "B", "C"))
  exposure <- round(runif(length(site), 0.5, 4), 2)
  u <- rnorm(nsite, sd = 0.4)
  lam <- exposure * exp(0.2 + c(0, 0.4, -0.3)[as.integer(trt)] + u[as.integer(site)])
  cnt <- data.frame(site = site, trt = trt, exposure = exposure, count = rpois(length(site), lam))
  write_data(cnt, "glmm_counts")
  make_case("glmm_poisson_offset", "glmm_counts",
            "count ~ trt + offset(log(exposure)) + (1 | site)", family = "poisson",
            predict_rows = c(1, 2, 3, 150, 300))

  # 4. cbpp with a probit link (lme4's cbpp, written under this script's own name)
  cb <- as.data.frame(lme4::cbpp)
  write_data(cb, "glmm_cbpp")
  make_case("glmm_cbpp_probit", "glmm_cbpp",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            family = "binomial(link = \"probit\")")

  # 5. nAGQ = 0 (lme4's first stage alone; vcov from RX, no Hessian) and adaptive
  #    Gauss-Hermite quadrature with an offset
  make_case("glmm_cbpp_nagq0", "glmm_cbpp",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", family = "binomial",
            nAGQ = 0L)
  make_case("glmm_poisson_offset_agq", "glmm_counts",
            "count ~ trt + offset(log(exposure)) + (1 | site)", family = "poisson", nAGQ = 5L,
            predict_rows = c(1, 2, 3, 150, 300))

  # 6. a singular fit: 0/1 data whose groups carry no variance (the first seed from 11 on
  #    for which lme4 lands on the boundary)
  for (seed in 11:200) {
    set.seed(seed)
    sg <- data.frame(g = factor(sprintf("g%d", rep(1:8, each = 25))), x = round(rnorm(200), 3))
    sg$y <- rbinom(200, 1, plogis(-0.2 + 0.7 * sg$x))
    if (suppressMessages(isSingular(glmer(y ~ x + (1 | g), data = sg, family = binomial)))) break
  }
  write_data(sg, "glmm_singular")
  make_case("glmm_singular", "glmm_singular", "y ~ x + (1 | g)", family = "binomial",
            extra = list(seed = seed))
}

main()
