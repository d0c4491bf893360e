# Shared helpers of the R reference corpus (sourced by tests/r/make_refs.R).
#
# Everything under tests/r/refs/ is written by this code; nothing there is typed by hand.
# Conventions (those of the original shared corpus, /work/shared/r-reference):
#   * tables are {index, columns, data} with data as rows;
#   * numbers at full (15 significant digit) precision; NA, NaN, Inf and NULL as null;
#   * fitted_rows are 1-based positions within fitted(m); predict_rows are row names
#     (strings) of the data set, i.e. 1-based data rows;
#   * printouts are capture.output() of print(summary(m)), display(m), print(VarCorr(m)),
#     ..., joined with "\n";
#   * data/NAME.csv is write.csv(df, row.names = FALSE, na = ""), and data/NAME.levels.json
#     the levels of every factor column, in R's order;
#   * data/NAME.ordered.json (the idioms corpus writes it for every data set; the core, v2
#     and extra corpora predate it and do not -- core's InstEval has ordered factors, listed
#     in its levels.json like any other): a JSON array of the names of the columns that are
#     ORDERED factors (is.ordered), [] when there are none.  Their levels in levels.json are
#     then in increasing order (low < mid < high), and R gives them contr.poly contrasts
#     (columns .L, .Q, .C, ^4, ...).  A column not in levels.json is not a factor in R:
#     character columns (R's model.frame makes them factors with sorted levels), logical
#     columns (TRUE / FALSE, empty cell = NA) and numbers;
#   * column names are kept as they are (read.csv(check.names = FALSE)): dotted, non-ASCII
#     (UTF-8) and names with spaces (`my var`) occur in the idioms corpus.
#
# A model case is a spec (a list: id, data, fun, formula, REML, family, weights, offset,
# subset, nAGQ, control, profile, predict_rows, fitted_rows, extra) and a style, which names
# the fields a corpus records and their order; every field is computed by the one shared
# function below for that field (case_fields()).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

# ---------------------------------------------------------------- versions
VERSION_PACKAGES <- c("lme4", "arm", "lmerTest", "pbkrtest", "emmeans", "broom.mixed",
                      "performance")

versions_list <- function() {
  v <- list(R = as.character(getRversion()))
  for (p in VERSION_PACKAGES) v[[p]] <- as.character(packageVersion(p))
  v
}

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

named <- function(v) as.list(v)                    # named numeric vector -> JSON object

text_of <- function(f) paste(capture.output(f()), collapse = "\n")

# ---------------------------------------------------------------- output tree
# OUT is the corpus directory being written (…/refs/<corpus>); set by make_refs.R.
OUT <- NULL
out_path <- function(...) file.path(OUT, ...)

# Write the data set and make it available to the fits under its name (the R calls say
# `data = name`, and lme4 / lmerTest / pbkrtest re-evaluate those calls).  reload = TRUE:
# the fits see the data as read back from the CSV (numbers rounded to write.csv's 15
# significant digits, factor levels restored from levels.json, ordered factors ordered
# again), as in the v2 corpus.  ordered_json = TRUE: also write NAME.ordered.json.
write_data <- function(df, name, reload = FALSE, ordered_json = FALSE) {
  csv <- out_path("data", paste0(name, ".csv"))
  utils::write.csv(df, csv, row.names = FALSE, na = "")
  facs <- names(df)[vapply(df, is.factor, logical(1))]
  ord <- names(df)[vapply(df, is.ordered, logical(1))]
  lv <- lapply(facs, function(f) arr(levels(df[[f]])))
  names(lv) <- facs
  write_json_file(if (length(lv)) lv else list(), out_path("data", paste0(name, ".levels.json")))
  if (ordered_json) write_json_file(arr(ord), out_path("data", paste0(name, ".ordered.json")))
  if (reload) {
    df <- utils::read.csv(csv, stringsAsFactors = FALSE, check.names = FALSE)
    for (f in facs) df[[f]] <- factor(as.character(df[[f]]), levels = lv[[f]],
                                      ordered = f %in% ord)
  }
  assign(name, df, envir = globalenv())
  invisible(df)
}

write_case <- function(out, id) write_json_file(out, out_path("cases", paste0(id, ".json")))

# ---------------------------------------------------------------- model specs
# spec(): a model case; only what differs from the defaults is given.  profile: add
# confint(method = "profile"); ddf: add lmerTest's Satterthwaite (and, for REML fits,
# Kenward-Roger) df; fitted_rows: positions of fitted(m) to record (default all).
spec <- function(id, data, formula, fun = "lmer", REML = TRUE, family = NULL,
                 weights = NULL, offset = NULL, subset = NULL, nAGQ = 1L, control = NULL,
                 profile = FALSE, ddf = TRUE, predict_rows = 1:5, fitted_rows = NULL,
                 extra = list()) {
  list(id = id, data = data, formula = formula, fun = fun, REML = REML, family = family,
       weights = weights, offset = offset, subset = subset, nAGQ = as.integer(nAGQ),
       control = control, profile = profile, ddf = ddf, predict_rows = predict_rows,
       fitted_rows = fitted_rows, extra = extra)
}

# The R call, in the argument order all three corpora use.
r_call_of <- function(s) {
  paste0(s$fun, "(", s$formula, ", data = ", s$data,
         if (!is.null(s$family)) paste0(", family = ", s$family),
         if (!is.null(s$weights)) paste0(", weights = ", s$weights),
         if (!is.null(s$offset)) paste0(", offset = ", s$offset),
         if (!is.null(s$subset)) paste0(", subset = ", s$subset),
         if (s$fun == "lmer" && !isTRUE(s$REML)) ", REML = FALSE",
         if (s$nAGQ != 1L) paste0(", nAGQ = ", s$nAGQ),
         if (!is.null(s$control)) paste0(", control = ", s$control),
         ")")
}

# Evaluate an R call in the global environment, keeping R's warnings and messages.
eval_logged <- function(r_call) {
  msgs <- character()
  t0 <- proc.time()[["elapsed"]]
  val <- withCallingHandlers(eval(parse(text = r_call)[[1]], envir = globalenv()),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { msgs <<- c(msgs, trimws(conditionMessage(w))); invokeRestart("muffleMessage") })
  list(value = val, seconds = proc.time()[["elapsed"]] - t0, messages = unique(msgs))
}

fit_spec <- function(s) {
  r_call <- r_call_of(s)
  f <- eval_logged(r_call)
  m <- f$value
  d <- get(s$data, envir = globalenv())
  fit <- fitted(m)
  list(spec = s, r_call = r_call, m = m, secs = f$seconds, messages = f$messages,
       is_lmer = s$fun == "lmer", ll = logLik(m), fit = fit,
       frows = if (is.null(s$fitted_rows)) seq_along(fit) else s$fitted_rows,
       nd = d[s$predict_rows, , drop = FALSE])
}

# ---------------------------------------------------------------- fields
OMIT <- structure(list(), class = "omit_field")    # a field this case does not have

ddf_table <- function(m, ddf, id) {
  co <- tryCatch({
    mt <- lmerTest::as_lmerModLmerTest(m)
    summary(mt, ddf = ddf)$coefficients
  }, error = function(e) { message(id, ": ", ddf, " failed: ", conditionMessage(e)); NULL })
  if (is.null(co) || !"df" %in% colnames(co)) return(NULL)
  list(terms = arr(rownames(co)), df = arr(co[, "df"]), p = arr(co[, "Pr(>|t|)"]))
}

# One function per field: f(ctx) -> value (NULL is written as null, OMIT leaves it out).
FIELDS <- list(
  id = function(x) x$spec$id,
  data = function(x) paste0(x$spec$data, ".csv"),
  formula = function(x) x$spec$formula,
  REML = function(x) x$spec$REML,
  r_call = function(x) x$r_call,
  fun = function(x) x$spec$fun,
  family = function(x) if (x$spec$fun == "glmer.nb") "negative.binomial" else x$spec$family,
  weights = function(x) x$spec$weights,
  offset = function(x) x$spec$offset,
  subset = function(x) x$spec$subset,
  nAGQ = function(x) x$spec$nAGQ,
  r_version = function(x) R.version.string,
  lme4_version = function(x) as.character(packageVersion("lme4")),
  versions = function(x) versions_list(),
  r_fit_seconds = function(x) x$secs,
  fixef = function(x) named(fixef(x$m)),
  se_fixef = function(x) named(sqrt(diag(as.matrix(vcov(x$m))))),
  vcov = function(x) unname(as.matrix(vcov(x$m))),
  varcorr = function(x) {
    vc <- as.data.frame(VarCorr(x$m))
    lapply(seq_len(nrow(vc)), function(i) list(
      grp = as.character(vc$grp[i]), var1 = as.character(vc$var1[i]),
      var2 = as.character(vc$var2[i]), vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  },
  sigma = function(x) sigma(x$m),
  logLik = function(x) as.numeric(x$ll),
  df = function(x) attr(x$ll, "df"),
  deviance = function(x) if (isREML(x$m)) NULL else deviance(x$m),
  REMLcrit = function(x) if (isREML(x$m)) REMLcrit(x$m) else NULL,
  AIC = function(x) AIC(x$m),
  BIC = function(x) BIC(x$m),
  nobs = function(x) nobs(x$m),
  ngrps = function(x) as.list(ngrps(x$m)),
  isSingular = function(x) isSingular(x$m),
  theta_nb = function(x) if (x$spec$fun == "glmer.nb") getME(x$m, "glmer.nb.theta") else NULL,
  theta = function(x) arr(getME(x$m, "theta")),
  coef = function(x) lapply(coef(x$m), table_json),
  ranef = function(x) lapply(ranef(x$m, condVar = TRUE), table_json),
  se_ranef = function(x) tryCatch(lapply(arm::se.ranef(x$m), table_json), error = function(e) NULL),
  ranef_condsd = function(x) {
    rc <- as.data.frame(ranef(x$m, condVar = TRUE))
    list(grpvar = arr(as.character(rc$grpvar)), term = arr(as.character(rc$term)),
         grp = arr(as.character(rc$grp)), condval = arr(rc$condval), condsd = arr(rc$condsd))
  },
  fitted_rows = function(x) arr(x$frows),
  fitted = function(x) arr(x$fit[x$frows]),
  residuals = function(x) arr(residuals(x$m)[x$frows]),
  pearson_residuals = function(x) arr(residuals(x$m, type = "pearson")[x$frows]),
  optinfo_derivs = function(x) {
    dv <- x$m@optinfo$derivs
    if (is.null(dv)) NULL else list(gradient = arr(dv$gradient), Hessian = unname(dv$Hessian))
  },
  r_messages = function(x) arr(x$messages),
  coefficients = function(x) table_json(summary(x$m)$coefficients),
  summary_text = function(x) text_of(function() print(summary(x$m))),
  display_text = function(x) text_of(function() arm::display(x$m)),
  no_display_text = function(x) NULL,
  varcorr_text = function(x) text_of(function() print(VarCorr(x$m))),
  satterthwaite = function(x) if (x$is_lmer && x$spec$ddf) ddf_table(x$m, "Satterthwaite", x$spec$id) else OMIT,
  kenward_roger = function(x) if (x$is_lmer && x$spec$ddf && isTRUE(x$spec$REML))
    ddf_table(x$m, "Kenward-Roger", x$spec$id) else OMIT,
  confint_wald = function(x) table_json(confint(x$m, parm = "beta_", method = "Wald")),
  confint_profile = function(x) {
    if (!isTRUE(x$spec$profile)) return(OMIT)
    warns <- character()
    ci <- withCallingHandlers(
      confint(x$m, method = "profile", oldNames = FALSE),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    # R's own warnings (e.g. a non-monotonic profile of a correlation), kept for the
    # reader in confint_profile_warnings
    x$env$profile_warnings <- unique(warns)
    table_json(ci)
  },
  confint_profile_warnings = function(x) {
    w <- x$env$profile_warnings
    if (length(w)) arr(w) else OMIT
  },
  predict_rows = function(x) arr(rownames(x$nd)),
  predict_conditional = function(x) arr(predict(x$m, newdata = x$nd)),
  predict_population = function(x) arr(predict(x$m, newdata = x$nd, re.form = NA)),
  predict_response = function(x) if (x$is_lmer) OMIT else
    arr(predict(x$m, newdata = x$nd, type = "response")),
  # lme4's deviance function itself (update(m, devFunOnly = TRUE): the stage-2 function, or
  # for nAGQ = 0 the stage-1 one) at the optimum and at two points away from it
  devfun_checks = function(x) {
    f <- update(x$m, devFunOnly = TRUE)
    p0 <- if (x$spec$nAGQ == 0L) getME(x$m, "theta") else c(getME(x$m, "theta"), fixef(x$m))
    pts <- list(p0, p0 * 1.1 + 0.02, p0 * 0.9 - 0.05)
    lapply(pts, function(p) list(par = arr(p), value = f(p)))
  }
)

# The fields each corpus records, in its order.  A field name maps to FIELDS[[name]]
# unless given as c(json_name = "function_name").
STYLES <- list(
  # core corpus and the lmer cases of the extra corpus (one maker made both formats)
  core = c("id", "data", "formula", "REML", "r_call", "family", "weights", "nAGQ",
           "r_version", "lme4_version", "versions", "r_fit_seconds",
           "fixef", "se_fixef", "vcov", "varcorr", "sigma", "logLik", "df", "deviance",
           "REMLcrit", "AIC", "BIC", "nobs", "ngrps", "isSingular", "coef", "ranef",
           "se_ranef", "ranef_condsd", "fitted_rows", "fitted", "residuals",
           "summary_text", "display_text", "varcorr_text", "satterthwaite",
           "kenward_roger", "confint_wald", "confint_profile", "predict_rows",
           "predict_conditional", "predict_population", "confint_profile_warnings"),
  # the glmer cases of the extra corpus
  glmm = c("id", "data", "formula", "REML", "r_call", "family", "weights", "nAGQ",
           "r_version", "lme4_version", "versions", "r_fit_seconds",
           "fixef", "se_fixef", "vcov", "varcorr", "sigma", "logLik", "df", "deviance",
           "REMLcrit", "AIC", "BIC", "nobs", "ngrps", "isSingular", "coef", "ranef",
           "se_ranef", "ranef_condsd", "fitted_rows", "fitted", "residuals",
           "pearson_residuals", "theta", "optinfo_derivs", "r_messages", "coefficients",
           "confint_wald", "predict_rows", "predict_conditional", "predict_population",
           "predict_response", "summary_text", "display_text", "varcorr_text",
           "devfun_checks"),
  # the fam_* and idiom_* cases of the v2 corpus: `theta` is glmer.nb's theta (null
  # otherwise); the v2 corpus has no display() printouts (display_text is null in all of
  # its cases) and no Kenward-Roger or profile fields
  v2 = c("id", "data", "formula", "REML", "r_call", "fun", "family", "weights", "offset",
         "subset", "nAGQ", "r_version", "lme4_version", "versions", "r_fit_seconds",
         "fixef", "se_fixef", "vcov", "varcorr", "sigma", "logLik", "df", "deviance",
         "REMLcrit", "AIC", "BIC", "nobs", "ngrps", "isSingular", theta = "theta_nb",
         "coef", "ranef", "se_ranef", "ranef_condsd", "fitted_rows", "fitted", "residuals",
         "summary_text", display_text = "no_display_text", "varcorr_text", "satterthwaite",
         "confint_wald", "predict_rows", "predict_conditional", "predict_population",
         "predict_response")
)

case_fields <- function(x, style) {
  fields <- STYLES[[style]]
  nm <- names(fields)
  json_names <- if (is.null(nm)) fields else ifelse(nm == "", fields, nm)
  x$env <- new.env()
  out <- list()
  for (i in seq_along(fields)) {
    v <- FIELDS[[fields[[i]]]](x)
    if (inherits(v, "omit_field")) next
    out[json_names[[i]]] <- list(v)                   # keeps NULL as a (null) field
  }
  for (k in names(x$spec$extra)) out[k] <- list(x$spec$extra[[k]])
  out
}

# Fit one case, write cases/ID.json, return the fit (invisible).
make_case <- function(s, style) {
  x <- fit_spec(s)
  out <- case_fields(x, style)
  write_case(out, s$id)
  cat(sprintf("  %-28s nobs %6d  logLik %13.4f  (fit %.2fs)%s\n", s$id, nobs(x$m),
              as.numeric(x$ll), x$secs,
              if (length(x$messages)) paste0("  [", paste(x$messages, collapse = "; "), "]") else ""))
  invisible(x$m)
}

# ---------------------------------------------------------------- anova(m1, m2, ...)
make_anova_case <- function(id, data, formulas) {
  env <- new.env(parent = globalenv())
  labels <- paste0("m", seq_along(formulas))
  for (i in seq_along(formulas))
    assign(labels[i], eval(parse(text = sprintf("lmer(%s, data = %s)", formulas[i], data))[[1]],
                           envir = globalenv()), envir = env)
  r_call <- sprintf("anova(%s)", paste(labels, collapse = ", "))
  a <- suppressMessages(eval(parse(text = r_call)[[1]], envir = env))
  out <- list(id = id, data = paste0(data, ".csv"), formulas = arr(formulas), kind = "anova",
              table = table_json(a), r_call = r_call,
              text = text_of(function() print(a)), versions = versions_list())
  write_case(out, id)
  cat(sprintf("  %-28s %s\n", id, r_call))
}

# Write the model cases (skipping the ids in `skip`).
run_cases <- function(specs, style, skip = character()) {
  for (s in specs) {
    if (s$id %in% skip) { cat(sprintf("  %-28s skipped\n", s$id)); next }
    make_case(s, style)
  }
}

# ---------------------------------------------------------------- shared data sets
# The teaching module's simulated faculty salaries: 5 departments x 20 faculty, set.seed(999);
# rows cycle through the departments; department stays a character column (no levels).
faculty_data <- function() {
  set.seed(999)
  departments <- c("sociology", "biology", "english", "informatics", "statistics")
  base <- c(40000, 50000, 60000, 70000, 80000)       # base salary per department
  raise <- c(2000, 500, 500, 1700, 500)              # yearly raise per department
  n <- 20; k <- length(departments)
  experience <- floor(runif(n * k, 0, 10))
  bases <- rep(base, n) * runif(n * k, 0.9, 1.1)
  raises <- rep(raise, n) * runif(n * k, 0.9, 1.1)
  data.frame(id = seq_len(n * k), department = rep(departments, n),
             experience = experience, salary = bases + experience * raises)
}

# lme4's cbpp with the proportion as a column
cbpp_data <- function() {
  cb <- as.data.frame(lme4::cbpp)
  cb$prop <- cb$incidence / cb$size
  cb
}
