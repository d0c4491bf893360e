# R's values of the data-dependent functions a model formula may call (poly, scale, ns, bs,
# cut) and of interaction, offset and cbind, for tests/test_transforms.py.
#
#   Rscript tests/r/transforms_refs.R      (from the repository root)
#
# writes tests/r/refs/transforms/transforms.json.  Nothing in that file is typed by hand.
#
# Fields:
#   r_version, versions (splines, jsonlite);
#   data, newdata: the data sets, as {columns: {name: values}, factors: {name: levels}}.
#     Numbers are made exact at 15 significant digits (as.numeric(sprintf("%.15g", .))), so
#     the JSON holds the very doubles R computed with.  newdata has values inside and
#     outside the range of data's, exactly at its boundaries, and NA.
#   cases: one per expression, with
#     expr      the R expression (also what Python parses);
#     fit       its value on `data`: {kind: "matrix" | "vector" | "factor", ...}: a matrix
#               as {values (row-major, NA null), colnames}, a vector as {values}, a factor
#               as {labels (as.character, NA null), levels, ordered};
#     warnings  R's warnings while evaluating it;
#     state     the attributes R keeps for new data: poly's coefs (alpha, norm2), scale's
#               scaled:center / scaled:scale, ns/bs's knots, Boundary.knots, intercept
#               (and degree), cut's breaks (the breaks cut.default computed, captured with
#               trace());
#     predvars  how R evaluates the variable for new data (deparse of the terms' predvars
#               of model.frame(~ expr, data));
#     predict   the value of predvars on `newdata` (cut: R has no makepredictcall for
#               cut(), it recomputes breaks from new data; mlm_wrap keeps the fit's
#               breaks, so the reference is cut(newx, breaks = <fit's breaks>, <the other
#               arguments>), i.e. R's cut with the breaks it used at fit time);
#     predict_warnings  R's warnings while evaluating predvars on newdata.
#   errors: expressions R refuses, with R's message (conditionMessage).

suppressPackageStartupMessages({
  library(splines)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script)) dirname(normalizePath(script)) else "tests/r"
OUT <- file.path(here, "refs", "transforms")
dir.create(OUT, recursive = TRUE, showWarnings = FALSE)

arr <- function(x) I(unname(x))
exact <- function(x) ifelse(is.na(x), NA_real_, suppressWarnings(as.numeric(sprintf("%.15g", x))))

# ---------------------------------------------------------------- data
set.seed(20240611)
n <- 24
x <- exact(rnorm(n))
z <- exact(runif(n, 0, 100))
z[c(4, 11)] <- c(25, 50)                      # exactly on cut()'s vector breaks
k <- sample(1:6, n, replace = TRUE)           # ties
xna <- x; xna[c(3, 10)] <- NA
w <- exact(1000 + 500 * rexp(n))               # large values: formatC label digits
d <- data.frame(
  x = x, z = z, k = k, xna = xna, w = w,
  c0 = rep(3, n),                              # constant: cut()'s dx == 0 branch
  f1 = factor(sample(c("a", "b", "c"), n, TRUE), levels = c("a", "b", "c", "d")),
  f2 = factor(sample(c("u", "v"), n, TRUE)),
  f3 = factor(sample(c("a.b", "a", "b.c", "c"), n, TRUE)),
  f4 = factor(sample(c("b", "b.c", "c"), n, TRUE)),
  s = sample(0:10, n, TRUE)
)
d$f2[c(2, 7)] <- NA
d$s2 <- 12 - d$s

rx <- range(x); rz <- range(z); rk <- range(k); rw <- range(w)
nd <- data.frame(
  x = c(rx[1] - 1, rx[1], -0.3, 0, 0.7, rx[2], rx[2] + 0.5, NA),
  z = c(rz[1], 0.001, 25, 50, 60.5, rz[2], 99.999, NA),
  k = c(1, 2, 3, 4, 6, 0, 7, NA),
  xna = c(rx[1] - 1, rx[1], -0.3, NA, 0.7, rx[2], rx[2] + 0.5, 0),
  w = c(rw[1], rw[1] + 1, 1200, 1500, rw[2], rw[2] - 1, 2000, NA),
  c0 = c(3, 3, 3, 2.999, 3.001, 3, 3, NA)
)
nd$x <- exact(nd$x); nd$xna <- exact(nd$xna); nd$z <- exact(nd$z); nd$w <- exact(nd$w)

frame_json <- function(df) {
  facs <- names(df)[vapply(df, is.factor, logical(1))]
  cols <- lapply(df, function(v) if (is.factor(v)) arr(as.character(v)) else arr(v))
  lv <- lapply(facs, function(f) arr(levels(df[[f]])))
  names(lv) <- facs
  list(columns = cols, factors = if (length(lv)) lv else setNames(list(), character()))
}

# ---------------------------------------------------------------- values
value_json <- function(v) {
  if (is.factor(v)) {
    return(list(kind = "factor", labels = arr(as.character(v)), levels = arr(levels(v)),
                ordered = is.ordered(v)))
  }
  if (is.matrix(v)) {
    m <- matrix(as.numeric(v), nrow(v), ncol(v))
    return(list(kind = "matrix", values = m,
                colnames = if (is.null(colnames(v))) NULL else arr(colnames(v))))
  }
  list(kind = "vector", values = arr(as.numeric(v)), integer = is.integer(v))
}

state_json <- function(v) {
  a <- attributes(v)
  out <- list()
  if (!is.null(a$coefs)) out$coefs <- list(alpha = arr(a$coefs$alpha), norm2 = arr(a$coefs$norm2))
  if (!is.null(a[["scaled:center"]])) out$center <- arr(a[["scaled:center"]])
  if (!is.null(a[["scaled:scale"]])) out$scale <- arr(a[["scaled:scale"]])
  if (inherits(v, "basis")) {
    out$knots <- arr(as.numeric(a$knots))
    out$Boundary.knots <- arr(a$Boundary.knots)
    out$intercept <- a$intercept
    out$degree <- a$degree
  }
  out
}

with_warnings <- function(expr_fun) {
  warns <- character()
  val <- withCallingHandlers(expr_fun(),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  list(value = val, warnings = arr(unique(warns)))
}

# the breaks cut.default computes, as it computed them
.cut_breaks <- NULL
invisible(trace("cut.default", exit = quote(assign(".cut_breaks", breaks, envir = globalenv())),
                print = FALSE, where = baseenv()))

one_case <- function(expr, predict = TRUE) {
  e <- str2lang(expr)
  f <- with_warnings(function() eval(e, d, globalenv()))
  out <- list(expr = expr, fit = value_json(f$value), warnings = f$warnings,
              state = state_json(f$value))
  is_cut <- identical(e[[1]], as.name("cut"))
  if (is_cut) out$state$breaks <- arr(.cut_breaks)
  if (predict) {
    if (is_cut) {
      mc <- match.call(base::cut.default, e)
      mc$breaks <- .cut_breaks
      pv <- mc
    } else {
      mf <- model.frame(as.formula(paste("~", expr)), d, na.action = na.pass)
      pv <- attr(attr(mf, "terms"), "predvars")[[2]]
    }
    p <- with_warnings(function() eval(pv, nd, globalenv()))
    out$predvars <- paste(deparse(pv, width.cutoff = 500L), collapse = " ")
    out$predict <- value_json(p$value)
    out$predict_warnings <- p$warnings
  }
  out
}

CASES <- list(
  # poly: orthogonal (QR at fit, three-term recurrence for new data) and raw
  list("poly(x, 3)"), list("poly(x, degree = 2)"), list("poly(x)"), list("poly(k, 4)"),
  list("poly(z, 2, raw = TRUE)"), list("poly(x, degree = 3, raw = TRUE)"),
  list("poly(w, 2)"),
  # scale
  list("scale(x)"), list("scale(z, center = FALSE)"), list("scale(z, scale = FALSE)"),
  list("scale(x, center = 2, scale = 3)"), list("scale(xna)"), list("scale(k)"),
  list("scale(z, center = FALSE, scale = FALSE)"), list("scale(w, center = 1000)"),
  # ns
  list("ns(x, df = 4)"), list("ns(x, 3)"), list("ns(x)"), list("ns(x, knots = c(-0.5, 0.5))"),
  list("ns(x, df = 3, intercept = TRUE)"), list("ns(xna, df = 3)"),
  list("ns(x, df = 2, Boundary.knots = c(-1, 1))"), list("ns(k, df = 3)"), list("ns(z, 5)"),
  list("ns(x, df = 1)"), list("ns(x, df = 0)"), list("ns(x, knots = c(0, 0))"),
  # bs
  list("bs(x, df = 5)"), list("bs(x)"), list("bs(x, degree = 2, knots = 0)"),
  list("bs(x, df = 4, intercept = TRUE)"), list("bs(xna, df = 4)"),
  list("bs(x, df = 5, Boundary.knots = c(-1, 1))"), list("bs(x, degree = 1, df = 3)"),
  list("bs(k, df = 5)"), list("bs(z, df = 6, degree = 4)"), list("bs(x, df = 2)"),
  list("bs(x, knots = c(0, 0, 0, 0))"), list("bs(x, knots = -5)"),
  # cut
  list("cut(z, 3)"), list("cut(z, breaks = c(0, 25, 50, 100))"),
  list("cut(z, c(0, 25, 50, 100), right = FALSE)"),
  list("cut(z, c(0, 25, 50, 100), include.lowest = TRUE)"),
  list("cut(z, c(0, 25, 50, 100), include.lowest = TRUE, right = FALSE)"),
  list("cut(z, 4, labels = FALSE)"), list("cut(z, 3, labels = c(\"lo\", \"mid\", \"hi\"))"),
  list("cut(z, 3, ordered_result = TRUE)"), list("cut(k, 2)"), list("cut(c0, 2)"),
  list("cut(w, 5)"), list("cut(w, 5, dig.lab = 1)"), list("cut(w, 5, dig.lab = 6)"),
  list("cut(x, 4, include.lowest = TRUE)"), list("cut(xna, c(-3, 0, 3))"),
  list("cut(x, c(0.5, -1, 1, 3, -3))"), list("cut(z, 2.7)"),
  list("cut(x, c(-1, 0, 1), labels = c(\"neg\", \"neg\"))"),
  list("cut(z, 3, dig = 2, right = FALSE)"),
  # interaction
  list("interaction(f1, f2)", FALSE), list("interaction(f1, f2, drop = TRUE)", FALSE),
  list("interaction(f1, f2, sep = \"_\")", FALSE),
  list("interaction(f1, f2, lex.order = TRUE)", FALSE),
  list("interaction(f1, f2, lex.order = TRUE, drop = TRUE)", FALSE),
  list("interaction(f1, k)", FALSE), list("interaction(f1, f2, f1)", FALSE),
  list("interaction(f3, f4)", FALSE), list("interaction(f3, f4, drop = TRUE)", FALSE),
  list("interaction(f3, f4, lex.order = TRUE)", FALSE), list("interaction(f2)", FALSE),
  # offset, cbind
  list("offset(log(z))", FALSE), list("offset(k)", FALSE),
  list("cbind(s, s2)", FALSE), list("cbind(s, 12 - s)", FALSE)
)

cases <- lapply(CASES, function(cc) do.call(one_case, cc))

ERRORS <- c("poly(xna, 2)", "poly(k, 6)", "poly(x, 0)", "scale(f1)",
            "ns(f1, 2)", "ns(x, knots = 5)", "bs(x, degree = 0)", "cut(f1, 3)", "cut(z, 1)",
            "cut(z, c(0, 50, 50, 100))", "cut(z, 3, labels = c(\"a\", \"b\"))",
            "cut(c0, c(1, 2, 3), labels = FALSE, include.lowest = NA)")
errors <- lapply(ERRORS, function(expr) {
  msg <- tryCatch({ eval(str2lang(expr), d, globalenv()); NA_character_ },
                  error = function(e) conditionMessage(e))
  list(expr = expr, message = msg)
})
untrace("cut.default", where = baseenv())

out <- list(
  r_version = R.version.string,
  versions = list(R = as.character(getRversion()),
                  splines = as.character(packageVersion("splines")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  data = frame_json(d), newdata = frame_json(nd),
  cases = cases, errors = errors
)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null",
                  null = "null", matrix = "rowmajor"),
           file.path(OUT, "transforms.json"), useBytes = TRUE)
cat("wrote", file.path(OUT, "transforms.json"), ":", length(cases), "cases,",
    length(errors), "errors\n")
