#!/usr/bin/env Rscript
# Extra R reference cases for mlm_wrap, in the format of the shared corpus
# (/work/shared/r-reference: cases/ID.json + data/NAME.csv + data/NAME.levels.json).
#
#   Rscript tests/r/make_extra_refs.R            # from the project root (or anywhere)
#   Rscript tests/r/make_extra_refs.R --selfcheck  # re-make 5 shared cases, compare
#
# Writes, from scratch, tests/data/r-extra/{cases,data}/.  Check with
#   python /work/shared/r-reference/parity.py tests/data/r-extra/cases --kind lmer
#
# Needs R >= 4.2 with lme4, arm, lmerTest (+ pbkrtest for Kenward-Roger), nlme, jsonlite.
# lmerTest is used through lmerTest::as_lmerModLmerTest() only (not attached), so
# the fits and their printouts are plain lme4 ('lmerMod'), as in the shared corpus.
#
# Conventions copied from the shared corpus:
#   * tables are {index, columns, data} with data as rows;
#   * numbers at full (15 significant digit) precision, NA/NULL written as null;
#   * fitted_rows are 1-based positions within fitted(m); predict_rows are row
#     names (strings) of the data set, i.e. 1-based data rows;
#   * printouts are capture.output() of print(summary(m)), display(m),
#     print(VarCorr(m)), joined with "\n";
#   * confint_wald is confint(m, parm = "beta_", method = "Wald") (fixed effects);
#     confint_profile is confint(m, method = "profile", oldNames = FALSE);
#   * satterthwaite for every fit, kenward_roger for REML fits only (as the
#     shared ML cases do); se_ranef is arm::se.ranef (null if arm fails);
#   * ML fits have deviance and REMLcrit = null, REML fits the other way round.

suppressPackageStartupMessages({
  library(lme4)
  library(arm)        # display(), se.ranef()
  library(jsonlite)
})

# ---------------------------------------------------------------- output paths
script_path <- function() {
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(a)) return(normalizePath(sub("^--file=", "", a[1])))
  if (!is.null(sys.frame(1)$ofile)) return(normalizePath(sys.frame(1)$ofile))
  normalizePath("tests/r/make_extra_refs.R")
}
ROOT <- dirname(dirname(dirname(script_path())))           # tests/r/x.R -> project root
OUT <- Sys.getenv("MLM_WRAP_REXTRA_OUT", file.path(ROOT, "tests", "data", "r-extra"))

# ---------------------------------------------------------------- JSON helpers
arr <- function(x) I(unname(x))                    # always a JSON array (even length 1)
to_json <- function(x) toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA,
                              na = "null", null = "null")
write_json_file <- function(x, path) writeLines(to_json(x), path, useBytes = TRUE)

# a matrix / data.frame as {index, columns, data}
table_json <- function(m) {
  m <- as.matrix(m)
  list(index = arr(rownames(m)), columns = arr(colnames(m)), data = unname(m))
}

# named numeric vector -> JSON object
named <- function(v) as.list(v)

text_of <- function(expr_fun) paste(capture.output(expr_fun()), collapse = "\n")

# ---------------------------------------------------------------- data sets
write_data <- function(df, name) {
  assign(name, df, envir = globalenv())            # the fit's `data = name` finds it
  utils::write.csv(df, file.path(OUT, "data", paste0(name, ".csv")),
                   row.names = FALSE, na = "")
  facs <- names(df)[vapply(df, is.factor, logical(1))]
  lv <- lapply(facs, function(f) arr(levels(df[[f]])))
  names(lv) <- facs
  write_json_file(if (length(lv)) lv else list(), file.path(OUT, "data", paste0(name, ".levels.json")))
  invisible(df)
}

# ---------------------------------------------------------------- one case
make_case <- function(id, data_name, formula, REML = TRUE, profile = FALSE,
                      predict_rows = 1:5, extra = list(), control = NULL) {
  r_call <- sprintf("lmer(%s, data = %s%s%s)", formula, data_name,
                    if (REML) "" else ", REML = FALSE",
                    if (is.null(control)) "" else paste0(", control = ", control))
  t0 <- proc.time()[["elapsed"]]
  m <- eval(parse(text = r_call)[[1]], envir = globalenv())
  secs <- proc.time()[["elapsed"]] - t0
  d <- get(data_name, envir = globalenv())

  ll <- logLik(m)
  vc <- as.data.frame(VarCorr(m))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = as.character(vc$grp[i]), var1 = as.character(vc$var1[i]),
    var2 = as.character(vc$var2[i]), vcov = vc$vcov[i], sdcor = vc$sdcor[i]))

  re <- ranef(m, condVar = TRUE)
  cf <- coef(m)
  se_re <- tryCatch(lapply(arm::se.ranef(m), table_json), error = function(e) NULL)
  rc <- as.data.frame(re)
  ranef_condsd <- list(grpvar = arr(as.character(rc$grpvar)), term = arr(as.character(rc$term)),
                       grp = arr(as.character(rc$grp)), condval = arr(rc$condval),
                       condsd = arr(rc$condsd))

  ddf_table <- function(ddf) {
    co <- tryCatch({
      mt <- lmerTest::as_lmerModLmerTest(m)
      summary(mt, ddf = ddf)$coefficients
    }, error = function(e) { message(id, ": ", ddf, " failed: ", conditionMessage(e)); NULL })
    if (is.null(co) || !"df" %in% colnames(co)) return(NULL)
    list(terms = arr(rownames(co)), df = arr(co[, "df"]), p = arr(co[, "Pr(>|t|)"]))
  }

  nd <- d[predict_rows, , drop = FALSE]
  fit <- fitted(m)

  out <- list(
    id = id, data = paste0(data_name, ".csv"), formula = formula, REML = REML,
    r_call = r_call, family = NULL, weights = NULL, nAGQ = 1L,
    r_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
    r_fit_seconds = secs,
    fixef = named(fixef(m)),
    se_fixef = named(sqrt(diag(as.matrix(vcov(m))))),
    vcov = unname(as.matrix(vcov(m))),
    varcorr = varcorr,
    sigma = sigma(m),
    logLik = as.numeric(ll), df = attr(ll, "df"),
    deviance = if (REML) NULL else deviance(m),
    REMLcrit = if (REML) REMLcrit(m) else NULL,
    AIC = AIC(m), BIC = BIC(m),
    nobs = nobs(m), ngrps = as.list(ngrps(m)), isSingular = isSingular(m),
    coef = lapply(cf, table_json), ranef = lapply(re, table_json),
    se_ranef = se_re, ranef_condsd = ranef_condsd,
    fitted_rows = arr(seq_along(fit)), fitted = arr(fit), residuals = arr(residuals(m)),
    summary_text = text_of(function() print(summary(m))),
    display_text = text_of(function() display(m)),
    varcorr_text = text_of(function() print(VarCorr(m))),
    satterthwaite = ddf_table("Satterthwaite")
  )
  if (REML) out$kenward_roger <- ddf_table("Kenward-Roger")
  out$confint_wald <- table_json(confint(m, parm = "beta_", method = "Wald"))
  if (profile) {
    warns <- character()
    ci <- withCallingHandlers(
      confint(m, method = "profile", oldNames = FALSE),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    out$confint_profile <- table_json(ci)
    # R's own warnings (e.g. non-monotonic profile of a correlation), kept for the reader
    if (length(warns)) extra$confint_profile_warnings <- arr(unique(warns))
  }
  out$predict_rows <- arr(rownames(nd))
  out$predict_conditional <- arr(predict(m, newdata = nd))
  out$predict_population <- arr(predict(m, newdata = nd, re.form = NA))
  for (k in names(extra)) out[[k]] <- extra[[k]]

  write_json_file(out, file.path(OUT, "cases", paste0(id, ".json")))
  cat(sprintf("%-26s nobs %4d  logLik %12.4f  (%.2fs)\n", id, nobs(m), as.numeric(ll), secs))
  invisible(m)
}

# ---------------------------------------------------------------- the data
build_data <- function() {
  ss <- lme4::sleepstudy                                   # Reaction, Days, Subject (factor)
  write_data(ss, "sleepstudy")

  # 1. nlme's Orthodont as a plain data.frame; Subject unordered, levels kept as they are
  O <- nlme::Orthodont
  write_data(data.frame(distance = O$distance, age = O$age,
                        Subject = factor(as.character(O$Subject), levels = levels(O$Subject)),
                        Sex = factor(as.character(O$Sex), levels = levels(O$Sex))),
             "Orthodont")

  # 3. sleepstudy with missing values
  sm <- ss
  sm$Reaction[c(3, 50, 77, 121)] <- NA
  sm$Days[160] <- NA
  write_data(sm, "sleepstudy_missing")

  # 4. Pastes
  write_data(as.data.frame(lme4::Pastes), "Pastes")

  # 5. cbpp with the proportion as a column (as in the shared cbpp.csv)
  cb <- as.data.frame(lme4::cbpp)
  cb$prop <- cb$incidence / cb$size
  write_data(cb, "cbpp")

  # 6. simulated crossed design: 30 subjects x 20 items, correlated subject slope
  set.seed(42)
  n_s <- 30; n_i <- 20; rho <- 0.3
  z1 <- rnorm(n_s); z2 <- rnorm(n_s)
  u0 <- 1.0 * z1                                           # subject intercepts, sd 1
  u1 <- 0.5 * (rho * z1 + sqrt(1 - rho^2) * z2)            # subject slopes, sd 0.5, corr 0.3
  w0 <- rnorm(n_i, sd = 0.7)                               # item intercepts
  g <- expand.grid(item = seq_len(n_i), subject = seq_len(n_s))   # subject-major order
  x <- rnorm(nrow(g))
  y <- 1 + 0.5 * x + u0[g$subject] + u1[g$subject] * x + w0[g$item] + rnorm(nrow(g), sd = 1)
  write_data(data.frame(subject = factor(sprintf("s%02d", g$subject), levels = sprintf("s%02d", 1:n_s)),
                        item = factor(sprintf("i%02d", g$item), levels = sprintf("i%02d", 1:n_i)),
                        x = x, y = y),
             "crossed_slope")

  # 7. Dyestuff
  write_data(as.data.frame(lme4::Dyestuff), "Dyestuff")

  # 8. sleepstudy with a two-level character column turned factor (sorted levels)
  sg <- ss
  sg$grp <- factor(ifelse(as.integer(sg$Subject) %% 2 == 0, "even", "odd"))
  write_data(sg, "sleepstudy_grp")

  # 10. sleepstudy with Subject as a plain integer column (no factor in levels.json)
  si <- ss
  si$Subject <- as.integer(as.character(si$Subject))
  write_data(si, "sleepstudy_intsubj")

  # 11. unbalanced groups (three subjects with a single observation, one with three),
  #     a logical predictor, and level labels with spaces, dashes and colons, kept as a
  #     character column (lmer makes it a factor with sorted levels)
  su <- ss[!(ss$Subject %in% c("308", "309", "310") & ss$Days > 0), ]
  su <- su[!(su$Subject == "330" & su$Days > 2), ]
  su$late <- su$Days > 4
  su$Subject <- paste0("subj - ", as.character(su$Subject), ":x")
  rownames(su) <- NULL
  write_data(su, "sleepstudy_unbal")
}

build_cases <- function() {
  make_case("orthodont_sex", "Orthodont", "distance ~ age * Sex + (age | Subject)", profile = TRUE)
  # lme4's default nloptwrap stops 6e-6 short of the REML optimum on Orthodont (a flat
  # likelihood); bobyqa, Nelder_Mead and optim all reach it.  The same model with bobyqa:
  make_case("orthodont_sex_bobyqa", "Orthodont", "distance ~ age * Sex + (age | Subject)",
            control = 'lmerControl(optimizer = "bobyqa")')
  make_case("sleep_log_poly", "sleepstudy", "log(Reaction) ~ Days + I(Days^2) + (1 | Subject)",
            profile = TRUE)

  d <- sleepstudy_missing
  complete <- which(complete.cases(d[, c("Reaction", "Days", "Subject")]))
  # first complete rows, plus the rows right after each missing value
  prow <- c(complete[1:5], 51, 78, 122, 161)
  stopifnot(all(prow %in% complete))
  make_case("sleep_missing", "sleepstudy_missing", "Reaction ~ Days + (Days | Subject)",
            predict_rows = prow,
            extra = list(
              fitted_data_rows = arr(complete),
              na_rows = arr(which(!complete.cases(d))),
              note = paste("na.omit: fitted/residuals are for the kept rows only;",
                           "fitted_rows are positions within fitted(m), fitted_data_rows",
                           "the 1-based data rows they belong to (names(fitted(m)))")))

  make_case("pastes_colon", "Pastes", "strength ~ 1 + (1 | batch:cask)")
  make_case("cbpp_lmm_factor", "cbpp", "prop ~ period + (1 | herd)")
  make_case("crossed_slope", "crossed_slope", "y ~ x + (1 + x | subject) + (1 | item)")
  make_case("dyestuff_ml", "Dyestuff", "Yield ~ 1 + (1 | Batch)", REML = FALSE, profile = TRUE)
  make_case("sleep_factor_int", "sleepstudy_grp", "Reaction ~ Days * grp + (1 | Subject)")
  make_case("sleep_nocept", "sleepstudy", "Reaction ~ 0 + Days + (1 | Subject)")
  make_case("sleep_unbal_bool", "sleepstudy_unbal", "Reaction ~ Days + late + (1 | Subject)")
  make_case("sleep_int_subject_as_int", "sleepstudy_intsubj", "Reaction ~ Days + (1 | Subject)")
}

main <- function() {
  # remove only this script's files: tests/r/make_glmm_refs.R writes glmm_* beside them
  old <- list.files(file.path(OUT, c("cases", "data")), full.names = TRUE)
  unlink(old[!grepl("^glmm_", basename(old))])
  dir.create(file.path(OUT, "cases"), recursive = TRUE, showWarnings = FALSE)
  dir.create(file.path(OUT, "data"), recursive = TRUE, showWarnings = FALSE)
  build_data()
  build_cases()
  # sanity checks on what the brief fixes
  stopifnot(jsonlite::fromJSON(file.path(OUT, "cases", "sleep_missing.json"))$nobs == 175)
  cat("wrote", OUT, "\n")
}

# --selfcheck: rebuild five cases of the shared corpus with make_case() into a temporary
# directory and compare them with the shared files (all but r_fit_seconds must be
# identical: that is how this script's format was checked against the corpus).
selfcheck <- function(shared = "/work/shared/r-reference") {
  OUT <<- file.path(tempdir(), "r-extra-selfcheck")
  unlink(OUT, recursive = TRUE)
  dir.create(file.path(OUT, "cases"), recursive = TRUE); dir.create(file.path(OUT, "data"))
  write_data(as.data.frame(lme4::Dyestuff), "Dyestuff")
  write_data(lme4::sleepstudy, "sleepstudy")
  write_data(as.data.frame(lme4::Pastes), "Pastes")
  make_case("dyestuff", "Dyestuff", "Yield ~ 1 + (1 | Batch)", profile = TRUE)
  make_case("sleepstudy_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", profile = TRUE)
  make_case("sleepstudy_int_ml", "sleepstudy", "Reaction ~ Days + (1 | Subject)", REML = FALSE)
  make_case("pastes_nested", "Pastes", "strength ~ 1 + (1 | batch/cask)")
  make_case("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)")
  ok <- TRUE
  for (f in list.files(file.path(OUT, "cases"))) {
    a <- grep("r_fit_seconds", readLines(file.path(OUT, "cases", f)), value = TRUE, invert = TRUE)
    b <- grep("r_fit_seconds", readLines(file.path(shared, "cases", f)), value = TRUE, invert = TRUE)
    same <- identical(a, b)
    ok <- ok && same
    cat(sprintf("%-22s %s\n", f, if (same) "identical to the shared corpus" else "DIFFERS"))
  }
  if (!ok) quit(status = 1)
}

if (sys.nframe() == 0L) {
  if ("--selfcheck" %in% commandArgs(TRUE)) selfcheck() else main()
}
