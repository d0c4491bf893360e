# The idioms corpus (tests/r/refs/idioms): R's formula language as model.frame() and
# model.matrix() evaluate it, and published lmer models.
#
#   cases/mm_<id>.json   model.matrix references, one formula each, on the purpose-built data
#                        set data/idioms.csv (40 rows, set.seed(20240607)) and predictions on
#                        data/idioms_new.csv (5 rows: numbers inside and outside the range
#                        of idioms.csv, factor values within (a subset of) the fit's levels).
#   cases/pub_<id>.json  lmer fits of published models (R documentation, vignettes and the
#                        textbooks' models as lme4 calls), in the v2 corpus's format (style
#                        "v2": the fields of tests/r/refs/v2/cases/idiom_*.json) plus
#                        source_package, source_package_version, source, source_verbatim.
#   cases/demo_faculty_2se.json   a teaching demo's printout (estimates +- 2 se.ranef).
#
# Data: every data set is written with write_data(reload = TRUE, ordered_json = TRUE): the
# R code sees the data as read back from the CSV (what Python reads), and
# data/NAME.ordered.json lists its ordered factors (see common.R).
#
# Fields of an mm case (all R's own answers; `d` is idioms.csv as read back, `nd`
# idioms_new.csv):
#   id, formula (R code, as given to R), data ("idioms.csv"), data_expr (the R expression of
#   the data argument, `d` unless it selects rows or columns), data_rows (1-based rows of
#   idioms.csv in that data), data_columns, contrasts_arg (R code or null), r_call (the
#   model.matrix call), mf_r_call (the model.frame call: na.action = na.omit, R's default);
#   error (null, or R's error message when model.matrix fails: then the matrix fields are
#   null), warnings (R's warnings, model.frame and model.matrix);
#   colnames, dim, X (row-major, 15 significant digits), rows (1-based rows of idioms.csv
#   kept by na.omit, i.e. the row names of the model frame), assign (attr(X, "assign")),
#   contrasts (attr(X, "contrasts"): a contrast function's name, or a contrast matrix as
#   {index, columns, data} when the factor carries its own, e.g. C(f, contr.sum)),
#   offset (model.offset(mf), null without an offset), xlevels (.getXlevels(terms(mf), mf)),
#   dataClasses (attr(terms(mf), "dataClasses"));
#   predvars (deparse(attr(terms(mf), "predvars")) as one line, R's 15 digits), predvars_list
#   (the same per variable, deparsed with 17 significant digits), data_dependent (predvars
#   differs from the variables: poly, scale, ns, bs keep the fit's parameters);
#   terms_r_call, term_labels, factors ({index: variables, columns: terms, data}), order,
#   intercept, response, variables (attr(terms(formula, data = ...), ...));
#   newdata ("idioms_new.csv"), newdata_r_call (how R predicts: the model frame of the
#   new data with the fit's terms (predvars) and factor levels, then model.matrix with the
#   fit's contrasts, as predict.lm does), newdata_status ("ok", "error" -- R's message in
#   newdata_error -- or "not attempted: ..." when model.matrix failed on the data),
#   newdata_error, newdata_warnings, newdata_X, newdata_rows (1-based rows of
#   idioms_new.csv kept by na.omit), newdata_offset.
#   r_version, versions.

suppressPackageStartupMessages(library(splines))

GROESSE <- "gr\u00f6\u00dfe"            # the non-ASCII column name (UTF-8)

# ---------------------------------------------------------------- data
idioms_frame <- function() {
  set.seed(20240607)
  n <- 40
  g <- factor(rep(sprintf("g%d", 1:6), length.out = n), levels = sprintf("g%d", 1:6))
  g2 <- factor(sample(rep(c("p", "q", "r", "s"), length.out = n)), levels = c("p", "q", "r", "s"))
  x <- round(rnorm(n), 3)
  # exact values: 1 (I(x == 1)), ties for round() (2.5 -> 2, -0.5 -> -0) and round(x, 1)
  # (0.15, 0.25), and a zero (sign(x))
  x[c(5, 9, 12, 15, 20, 31)] <- c(1, 2.5, -0.5, 0.15, 0, 0.25)
  z <- round(0.1 + 1.5 * rexp(n), 3)
  k <- sample(rep(0:5, length.out = n))
  f <- sample(rep(c("a", "b", "c"), length.out = n))
  h <- sample(rep(c("lo", "hi"), length.out = n))
  h[1] <- "lo"                         # first seen "lo", but R's levels are sorted: hi, lo
  o <- factor(sample(rep(c("mid", "low", "high"), length.out = n)),
              levels = c("low", "mid", "high"), ordered = TRUE)
  b <- sample(c(TRUE, FALSE), n, replace = TRUE)
  u <- rnorm(6, sd = 0.8)
  y <- round(1 + 0.5 * x - 0.3 * x^2 + log(z) + 0.4 * (f == "b") + u[as.integer(g)] +
             rnorm(n, sd = 0.5), 4)
  x[c(7, 23)] <- NA
  b[11] <- NA
  d <- data.frame(y = y, x = x, z = z, x.dot = round(runif(n, -1, 1), 3),
                  x_1 = round(rnorm(n), 3), v2 = round(runif(n, 0, 5), 2), k = k, f = f, h = h,
                  o = o, b = b, groesse = round(runif(n, 150, 200), 1),
                  myvar = round(rnorm(n, 10, 2), 2), g = g, g2 = g2, stringsAsFactors = FALSE)
  names(d)[names(d) == "groesse"] <- GROESSE
  names(d)[names(d) == "myvar"] <- "my var"
  d
}

# 5 rows: x and z inside and outside the range of idioms.csv (x = 0 and 1 again, z = 12
# beyond the last cut break); f without "a", factors with the fit's levels
idioms_new_frame <- function() {
  d <- data.frame(y = c(0.5, 1, 1.5, 2, 2.5), x = c(-4, -0.25, 0, 1, 5),
                  z = c(0.01, 0.75, 1.5, 3, 12), x.dot = c(-2, 0, 0.5, 1, 3),
                  x_1 = c(0, 1, -1, 2, -3), v2 = c(0, 2.5, 5, 7.5, 10), k = c(5L, 0L, 2L, 3L, 1L),
                  f = c("b", "c", "b", "c", "b"), h = c("lo", "lo", "hi", "lo", "lo"),
                  o = factor(c("high", "low", "high", "mid", "high"),
                             levels = c("low", "mid", "high"), ordered = TRUE),
                  b = c(TRUE, TRUE, FALSE, TRUE, FALSE), groesse = c(140, 175.5, 160, 210, 180),
                  myvar = c(5, 10, 12.5, 15, 20),
                  g = factor(c("g2", "g6", "g1", "g2", "g3"), levels = sprintf("g%d", 1:6)),
                  g2 = factor(c("s", "p", "q", "s", "r"), levels = c("p", "q", "r", "s")),
                  stringsAsFactors = FALSE)
  names(d)[names(d) == "groesse"] <- GROESSE
  names(d)[names(d) == "myvar"] <- "my var"
  d
}

# A plain data.frame (no groupedData class or attributes), factors and ordered factors kept.
plain <- function(df) {
  df <- as.data.frame(df)
  keep <- function(v) {
    a <- attributes(v)
    attributes(v) <- a[intersect(names(a), c("levels", "class"))]
    v
  }
  out <- data.frame(lapply(df, keep), check.names = FALSE, stringsAsFactors = FALSE)
  rownames(out) <- NULL
  out
}

idioms_write <- function(df, name) write_data(df, name, reload = TRUE, ordered_json = TRUE)

# ---------------------------------------------------------------- mm_* cases
# (id, formula, data expression, contrasts.arg)
mm <- function(id, formula, data = "d", contrasts = NULL)
  list(id = id, formula = formula, data = data, contrasts = contrasts)

mm_specs <- function() {
  gq <- paste0("~ ", GROESSE)
  list(
    mm("x", "~ x"),
    mm("one", "~ 1"),
    mm("zero_x", "~ 0 + x"),
    mm("x_twice", "~ x + x"),
    mm("log", "~ log(z)"),
    mm("log_base", "~ log(z, base = 2)"),
    mm("log2_log10_log1p", "~ log2(z) + log10(z) + log1p(z)"),
    mm("exp_expm1", "~ exp(x) + expm1(x)"),
    mm("exp_neg", "~ exp(-x)"),
    mm("sqrt_abs_sign", "~ sqrt(z) + abs(x) + sign(x)"),
    mm("sqrt_abs_nested", "~ sqrt(abs(x))"),
    mm("trig", "~ sin(x) + cos(x) + tan(x) + atan(x)"),
    mm("hyperbolic", "~ sinh(x) + cosh(x) + tanh(x)"),
    mm("floor_ceiling_round", "~ floor(x) + ceiling(x) + round(x) + round(x, 1)"),
    mm("trunc_signif", "~ trunc(x) + signif(z, 2)"),
    mm("pmin_pmax", "~ pmin(x, 1) + pmax(x, z)"),
    mm("factor_k", "~ factor(k)"),
    mm("as_factor_k", "~ as.factor(k)"),
    mm("factor_k_levels", "~ factor(k, levels = c(5, 4, 3, 2, 1, 0))"),
    mm("factor_f_levels", "~ factor(f, levels = c(\"c\", \"a\", \"b\"))"),
    mm("as_numeric_f", "~ as.numeric(f)"),
    mm("as_numeric_factor_f", "~ as.numeric(factor(f))"),
    mm("as_integer_logical", "~ as.integer(x > 0)"),
    mm("ordered_k", "~ ordered(k)"),
    mm("ordered_o", "~ o"),
    mm("ordered_o_f", "~ o + f"),
    mm("C_o_treatment", "~ C(o, contr.treatment)"),
    mm("relevel", "~ relevel(factor(f), ref = \"b\")"),
    mm("interaction_fh", "~ interaction(f, h)"),
    mm("cut_3", "~ cut(x, 3)"),
    mm("cut_breaks", "~ cut(x, breaks = c(-5, 0, 1, 5))"),
    mm("cut_right_false", "~ cut(z, breaks = c(0, 1, 2, 10), right = FALSE)"),
    mm("cut_labels_false", "~ cut(z, breaks = c(0, 1, 2, 10), labels = FALSE)"),
    mm("I_square", "~ I(x^2)"),
    mm("I_poly_terms", "~ x + I(x^2) + I(x^3)"),
    mm("I_product_inverse", "~ I(x * z) + I(1/z) + I(z^-1) + I((x - 1)^2)"),
    mm("I_identity", "~ I(x)"),
    mm("I_gt", "~ I(x > 0)"),
    mm("I_eq", "~ I(x == 1)"),
    mm("I_ne", "~ I(k != 2)"),
    mm("I_and", "~ I(x < 0 & z > 1)"),
    mm("I_or", "~ I(x < 0 | z > 1)"),
    mm("I_not", "~ I(!b)"),
    mm("I_mod", "~ I(k %% 3)"),
    mm("I_intdiv", "~ I(k %/% 2)"),
    mm("I_in", "~ I(f %in% c(\"a\", \"c\"))"),
    mm("ifelse", "~ ifelse(x > 0, x, 0)"),
    mm("poly_x", "~ poly(x, 2)"),
    mm("poly_x_complete", "~ poly(x, 2)", data = "d[!is.na(d$x), ]"),
    mm("poly_raw", "~ poly(x, 3, raw = TRUE)"),
    mm("poly_z_gt", "~ poly(z, 2) + I(x > 0)"),
    mm("scale", "~ scale(x)"),
    mm("scale_center_only", "~ scale(x, scale = FALSE)"),
    mm("scale_no_center", "~ scale(z, center = FALSE)"),
    mm("scale_integer", "~ scale(k)"),
    mm("splines_ns", "~ splines::ns(z, df = 3)"),
    mm("ns_df", "~ ns(z, df = 3)"),
    mm("ns_knots", "~ ns(z, knots = c(1, 2))"),
    mm("ns_intercept", "~ ns(z, df = 4, intercept = TRUE)"),
    mm("ns_missing", "~ ns(x, df = 2)"),
    mm("bs_df", "~ bs(z, df = 5)"),
    mm("bs_knots_degree", "~ bs(z, knots = c(1, 2), degree = 2)"),
    mm("C_sum", "~ C(f, contr.sum)"),
    mm("C_helmert", "~ C(f, contr.helmert)"),
    mm("C_poly", "~ C(f, contr.poly)"),
    mm("C_SAS", "~ C(f, contr.SAS)"),
    mm("C_treatment", "~ C(f, contr.treatment)"),
    # f is a character column: C() wants a factor (R: "object not interpretable as a
    # factor" above), so the working forms are these
    mm("C_factor_sum", "~ C(factor(f), contr.sum)"),
    mm("C_factor_helmert", "~ C(factor(f), contr.helmert)"),
    mm("C_factor_poly", "~ C(factor(f), contr.poly)"),
    mm("C_factor_SAS", "~ C(factor(f), contr.SAS)"),
    mm("C_factor_treatment", "~ C(factor(f), contr.treatment)"),
    mm("C_g_sum", "~ C(g, contr.sum)"),
    mm("C_g_sum_x", "~ C(g, contr.sum):x"),
    mm("contrasts_arg_sum", "~ f", contrasts = "list(f = \"contr.sum\")"),
    mm("contrasts_arg_helmert_h", "~ f + h", contrasts = "list(f = \"contr.helmert\", h = \"contr.sum\")"),
    mm("f", "~ f"),
    mm("h", "~ h"),
    mm("g", "~ g"),
    mm("f_star_h", "~ f * h"),
    mm("f_colon_h", "~ f:h"),
    mm("zero_f_colon_h", "~ 0 + f:h"),
    mm("x_colon_f", "~ x:f"),
    mm("f_colon_x", "~ f:x"),
    mm("factor_k_colon_x", "~ factor(k):x"),
    mm("zero_f", "~ 0 + f"),
    mm("f_minus_1", "~ f - 1"),
    mm("minus1_f_h", "~ -1 + f + h"),
    mm("zero_f_colon_x", "~ 0 + f:x"),
    mm("f_slash_x", "~ f/x"),
    mm("h_slash_f", "~ h/f"),
    mm("x_in_f", "~ x %in% f"),
    mm("f_in_h", "~ f %in% h"),
    mm("power2", "~ (f + h + x)^2"),
    mm("star_minus_colon", "~ f * h - f:h"),
    mm("x_star_z_minus1", "~ x * z - 1"),
    mm("log_z_star_f", "~ log(z) * f"),
    mm("dotted_names", "~ x.dot + x_1 + v2"),
    mm("non_ascii", gq),
    mm("backtick_space", "~ `my var`"),
    mm("logical", "~ b"),
    mm("interaction_order", "~ z * f + h * z"),
    mm("offset", "~ offset(log(z)) + x"),
    mm("dot", "~ .", data = "d[, c(\"y\", \"x\", \"f\")]"),
    mm("dot_minus_x", "~ . - x", data = "d[, c(\"y\", \"x\", \"f\")]"),
    mm("y_dot", "y ~ .", data = "d[, c(\"y\", \"x\", \"f\")]"),
    mm("y_dot_minus_x", "y ~ . - x", data = "d[, c(\"y\", \"x\", \"f\")]")
  )
}

# Evaluate R code (text) in env; R's warnings are collected, an error is returned as text.
run_code <- function(code, env) {
  warns <- character()
  res <- withCallingHandlers(
    tryCatch(list(value = eval(parse(text = code, keep.source = FALSE)[[1]], envir = env),
                  error = NULL),
             error = function(e) list(value = NULL, error = conditionMessage(e))),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  res$warnings <- unique(warns)
  res
}

one_line <- function(expr, control = c("keepNA", "keepInteger", "niceNames", "showAttributes"))
  paste(deparse(expr, width.cutoff = 500L, control = control), collapse = "")

# attr(X, "contrasts"): a function name, or a contrast matrix as {index, columns, data} (index
# and columns null when the matrix has no row / column names, e.g. contr.sum's columns)
contrasts_json <- function(cons) {
  if (is.null(cons)) return(NULL)
  lapply(cons, function(v) {
    if (is.character(v)) return(v)
    v <- as.matrix(v)
    list(index = if (is.null(rownames(v))) NULL else arr(rownames(v)),
         columns = if (is.null(colnames(v))) NULL else arr(colnames(v)), data = unname(v))
  })
}

matrix_rows <- function(m) if (nrow(m)) unname(m) else list()

uses_dot <- function(formula) grepl("(^|[^[:alnum:]._])\\.($|[^[:alnum:]._])", formula)

mm_case <- function(s, d, nd) {
  env <- new.env(parent = globalenv())
  env$d <- d
  env$nd <- nd
  dat <- eval(parse(text = s$data)[[1]], envir = env)
  r_call <- sprintf("model.matrix(%s, data = %s%s)", s$formula, s$data,
                    if (is.null(s$contrasts)) "" else paste0(", contrasts.arg = ", s$contrasts))
  mf_call <- sprintf("model.frame(%s, data = %s)", s$formula, s$data)
  terms_call <- sprintf("terms(%s%s)", s$formula,
                        if (uses_dot(s$formula)) paste0(", data = ", s$data) else "")
  out <- list()
  put <- function(name, value) out[name] <<- list(value)     # keeps NULL as a (null) field
  put("id", paste0("mm_", s$id))
  put("kind", "model_matrix")
  put("formula", s$formula)
  put("data", "idioms.csv")
  put("data_expr", s$data)
  put("data_rows", arr(as.integer(rownames(dat))))
  put("data_columns", arr(names(dat)))
  put("contrasts_arg", s$contrasts)
  put("r_call", r_call)
  put("mf_r_call", paste0("mf <- ", mf_call))

  xr <- run_code(paste0("X <- ", r_call), env)
  ok <- is.null(xr$error)
  mfr <- if (ok) run_code(paste0("mf <- ", mf_call), env) else list(warnings = character())
  if (ok) stopifnot(is.null(mfr$error))
  X <- if (ok) env$X
  mf <- if (ok) env$mf
  if (ok) stopifnot(identical(as.integer(rownames(X)), as.integer(rownames(mf))))
  put("error", xr$error)
  put("warnings", arr(unique(c(xr$warnings, mfr$warnings))))
  put("colnames", if (ok) arr(colnames(X)))
  put("dim", if (ok) arr(dim(X)))
  put("X", if (ok) matrix_rows(X))
  put("rows", if (ok) arr(as.integer(rownames(mf))))
  put("assign", if (ok) arr(attr(X, "assign")))
  put("contrasts", if (ok) contrasts_json(attr(X, "contrasts")))
  put("offset", if (ok && !is.null(model.offset(mf))) arr(model.offset(mf)))
  tm <- if (ok) terms(mf)
  xl <- if (ok) .getXlevels(tm, mf)
  put("xlevels", if (ok) { if (length(xl)) lapply(xl, arr) else setNames(list(), character()) })
  put("dataClasses", if (ok) as.list(attr(tm, "dataClasses")))
  pv <- if (ok) attr(tm, "predvars")
  put("predvars", if (ok) one_line(pv))
  put("predvars_list", if (ok) arr(vapply(as.list(pv)[-1], one_line, "",
                                          control = c("keepNA", "keepInteger", "niceNames",
                                                      "showAttributes", "digits17"))))
  put("data_dependent", if (ok) !identical(pv, attr(tm, "variables")))

  tr <- run_code(terms_call, env)
  tt <- tr$value
  put("terms_r_call", terms_call)
  put("terms_error", tr$error)
  tok <- is.null(tr$error)
  fac <- if (tok) attr(tt, "factors")
  put("term_labels", if (tok) arr(attr(tt, "term.labels")))
  put("factors", if (tok) { if (length(fac)) table_json(fac) else
    list(index = arr(character()), columns = arr(character()), data = list()) })
  put("order", if (tok) arr(attr(tt, "order")))
  put("intercept", if (tok) attr(tt, "intercept"))
  put("response", if (tok) attr(tt, "response"))
  put("variables", if (tok) arr(vapply(as.list(attr(tt, "variables"))[-1], one_line, "")))

  # prediction: the fit's terms (predvars), factor levels and contrasts on idioms_new.csv
  nd_mf <- "mfn <- model.frame(delete.response(terms(mf)), nd, xlev = .getXlevels(terms(mf), mf))"
  nd_mm <- "Xn <- model.matrix(delete.response(terms(mf)), mfn, contrasts.arg = attr(X, \"contrasts\"))"
  put("newdata", "idioms_new.csv")
  put("newdata_r_call", paste(nd_mf, nd_mm, sep = "; "))
  r1 <- if (ok) run_code(nd_mf, env) else list(error = NULL, warnings = character())
  r2 <- if (ok && is.null(r1$error)) run_code(nd_mm, env) else
    list(error = r1$error, warnings = character())
  nok <- ok && is.null(r2$error)
  if (nok) stopifnot(identical(colnames(env$Xn), colnames(X)))
  put("newdata_status", if (!ok) "not attempted: model.matrix failed on the data" else
    if (nok) "ok" else "error")
  put("newdata_error", r2$error)
  put("newdata_warnings", if (ok) arr(unique(c(r1$warnings, r2$warnings))))
  put("newdata_X", if (nok) matrix_rows(env$Xn))
  put("newdata_rows", if (nok) arr(as.integer(rownames(env$mfn))))
  put("newdata_offset", if (nok && !is.null(model.offset(env$mfn))) arr(model.offset(env$mfn)))
  put("r_version", R.version.string)
  put("versions", versions_list())
  write_case(out, out$id)
  cat(sprintf("  %-28s %-44s %s\n", out$id, s$formula,
              if (!ok) paste("ERROR:", xr$error) else
                paste0(nrow(X), "x", ncol(X),
                       if (!nok) paste(" | newdata ERROR:", r2$error) else "")))
  invisible(out)
}

# ---------------------------------------------------------------- pub_* cases
pub <- function(id, data, formula, package, source, verbatim, more = list(), ...) {
  spec(id, data, formula, extra = c(list(
    source_package = package,
    source_package_version = as.character(packageVersion(package)),
    source = source, source_verbatim = verbatim), more), ...)
}

idioms_pub_data <- function() {
  idioms_write(plain(mlmRev::Exam), "Exam")
  # school is an ordered factor in mlmRev (160 levels); lme4's predict(newdata) then fails
  # (get.orig.levs applies contr.poly: "orthogonal polynomials cannot be represented
  # accurately enough for 159 degrees of freedom"), so it is made unordered (same levels, same
  # order), as the v2 and extra corpora do with nlme's grouping factors.  The other grouping
  # factors stay as their packages ship them (ordered: Rat, Subject, Chick).
  hsb <- plain(mlmRev::Hsb82)
  hsb$school <- factor(as.character(hsb$school), levels = levels(hsb$school))
  idioms_write(hsb, "Hsb82")
  idioms_write(plain(mlmRev::Early), "Early")
  idioms_write(plain(nlme::BodyWeight), "BodyWeight")
  idioms_write(plain(nlme::Oxboys), "Oxboys")
  idioms_write(plain(nlme::Orthodont), "Orthodont")
  idioms_write(plain(datasets::ChickWeight), "ChickWeight")
  idioms_write(plain(lme4::cake), "cake")
  idioms_write(plain(lmerTest::ham), "ham")
}

idioms_pub_specs <- function() {
  list(
    pub("pub_exam", "Exam", "normexam ~ standLRT + sex + schgend + (1 | school)", "mlmRev",
        "mlmRev: example of ?Exam (fm1) and vignette MlmSoftRev (Em1)", TRUE),
    pub("pub_hsb82", "Hsb82", "mAch ~ meanses * cses + sector * cses + (cses | school)", "mlmRev",
        paste("Raudenbush & Bryk's High School and Beyond model as an lme4 call; not in the",
              "installed documentation of mlmRev (?Hsb82 has no model); school made unordered"),
        FALSE),
    pub("pub_early", "Early", "cog ~ age * trt + (age | id)", "mlmRev",
        "the Early childhood intervention model as an lme4 call; ?Early has no model", FALSE),
    pub("pub_bodyweight", "BodyWeight", "weight ~ Time * Diet + (Time || Rat)", "nlme",
        paste("nlme: lme(weight ~ Time * Diet, BodyWeight, random = ~ Time) (?anova.lme,",
              "?Variogram.lme), as lmer with uncorrelated random effects"), FALSE),
    pub("pub_oxboys", "Oxboys", "height ~ age + I(age^2) + (age | Subject)", "nlme",
        paste("mlmRev vignette MlmSoftRev fits height ~ age + I(age^2) + I(age^3) + I(age^4)",
              "+ (age + I(age^2) | Subject) on Oxboys; this is its quadratic version"), FALSE),
    pub("pub_orthodont", "Orthodont", "distance ~ age * Sex + (age | Subject)", "nlme",
        paste("nlme: lme(distance ~ age * Sex, data = Orthodont, random = ~ age)",
              "(?comparePred) as an lmer call; Subject stays nlme's ordered factor"), FALSE),
    pub("pub_chickweight_subset", "ChickWeight", "weight ~ Time + Diet + (1 | Chick)", "datasets",
        "datasets::ChickWeight (Chick an ordered factor) without diet 4, by lmer's subset argument",
        FALSE, subset = "Diet != \"4\""),
    pub("pub_cake", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)", "lme4",
        paste("lmerTest: example of ?contest (fm <- lmer(angle ~ recipe * temperature +",
              "(1|recipe:replicate), cake)); temperature is an ordered factor"), TRUE),
    pub("pub_cake_ml", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)", "lme4",
        "lme4: example of ?cake (fm1, REML = FALSE)", TRUE, REML = FALSE),
    pub("pub_ham", "ham", "Informed.liking ~ Gender + Information * Product + (1 | Consumer)",
        "lmerTest",
        paste("lmerTest's ham; the model of ?lmerTest-package without its (1 | Consumer:Product)",
              "term"), FALSE),
    pub("pub_ham_doc", "ham",
        "Informed.liking ~ Gender + Information * Product + (1 | Consumer) + (1 | Consumer:Product)",
        "lmerTest", "lmerTest: example of ?lmerTest-package", TRUE),
    pub("pub_idioms", "idioms_xobs", "y ~ poly(x, 2) + ns(z, df = 3) + (1 | g)", "splines",
        paste("this corpus's idioms data (corpus_idioms.R) without the rows where x is missing",
              "(poly() does not allow missing values); ns() from splines"), FALSE,
        more = list(idioms_rows = arr(which(!is.na(get("idioms", globalenv())$x)))))
  )
}

# ---------------------------------------------------------------- the teaching demo
demo_faculty_2se <- function() {
  write_data(faculty_data(), "faculty", ordered_json = TRUE)     # the core corpus's faculty.csv
  code <- c("m1 <- lmer(salary ~ experience + (1 | department), data = faculty)",
            "est <- coef(m1)$department[, \"(Intercept)\"]",
            "se <- arm::se.ranef(m1)$department[, \"(Intercept)\"]",
            paste0("tab <- data.frame(estimate = est, lower = est - 2 * se, upper = est + 2 * se, ",
                   "row.names = rownames(coef(m1)$department))"),
            "print(tab)")
  env <- new.env(parent = globalenv())
  for (line in code[-length(code)]) eval(parse(text = line)[[1]], envir = env)
  out <- list(id = "demo_faculty_2se", kind = "printout", data = "faculty.csv",
              r_call = paste(code, collapse = "\n"),
              text = paste(capture.output(print(env$tab)), collapse = "\n"),
              table = table_json(env$tab), r_version = R.version.string,
              versions = versions_list())
  write_case(out, out$id)
  cat(sprintf("  %-28s %d rows\n", out$id, nrow(env$tab)))
}

corpus_idioms <- function(skip = character()) {
  d <- idioms_write(idioms_frame(), "idioms")
  nd <- idioms_write(idioms_new_frame(), "idioms_new")
  for (s in mm_specs()) {
    if (paste0("mm_", s$id) %in% skip) { cat(sprintf("  mm_%-25s skipped\n", s$id)); next }
    mm_case(s, d, nd)
  }
  idioms_write(d[!is.na(d$x), ], "idioms_xobs")
  idioms_pub_data()
  run_cases(idioms_pub_specs(), style = "v2", skip = skip)
  if (!"demo_faculty_2se" %in% skip) demo_faculty_2se()
}
