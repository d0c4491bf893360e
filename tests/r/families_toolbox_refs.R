# R references for the calls after the fit on the new glmer families (issue #15, item 5):
# arm's display() and se.fixef(), anova() between nested fits of one family, predict()
# (newdata, type = "link" | "response", re.form = NA), broom.mixed's tidy() / glance() /
# augment(), emmeans (the cbpp fits) and performance's icc() / r2() (or the error / warning
# R gives for a family performance does not support).
# Fits: Gamma(log), inverse.gaussian(log), gaussian(log), binomial(probit), poisson(sqrt)
# and glmer.nb, on the v2 corpus' data as the Python tests read them (tests/r/refs/v2/data).
# Read by tests/toolbox/test_families_toolbox.py.
# Run from the repository root:  Rscript tests/r/families_toolbox_refs.R
suppressPackageStartupMessages({
  library(lme4); library(jsonlite); library(arm); library(broom.mixed)
  library(emmeans); library(performance); library(MASS)
})
emm_options(opt.digits = TRUE)
out_dir <- "tests/r/refs/families/toolbox"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()))
for (p in c("lme4", "arm", "broom.mixed", "emmeans", "performance", "insight", "MASS"))
  versions[[p]] <- as.character(packageVersion(p))

read_v2 <- function(name) {
  d <- read.csv(file.path("tests/r/refs/v2/data", paste0(name, ".csv")), stringsAsFactors = FALSE)
  lv <- fromJSON(file.path("tests/r/refs/v2/data", paste0(name, ".levels.json")))
  for (f in names(lv)) d[[f]] <- factor(as.character(d[[f]]), levels = lv[[f]])
  d
}
for (nm in c("sleepx", "faculty", "nbsim", "cbpp")) assign(nm, read_v2(nm), envir = globalenv())

arr <- function(x) I(unname(x))
num <- function(x) { x <- as.numeric(x); ifelse(is.finite(x), x, NA) }
# a data frame column-wise: {columns, data: {col: [...]}} (broom_refs.R's convention)
tab <- function(d) {
  d <- as.data.frame(d, stringsAsFactors = FALSE)
  list(columns = arr(names(d)),
       data = lapply(d, function(col) if (is.factor(col) || is.character(col)) arr(as.character(col)) else arr(num(col))))
}
text_of <- function(expr) paste(capture.output(expr), collapse = "\n")
# the value, or the condition R raises / the warnings it gives
attempt <- function(f) {
  warns <- character()
  val <- withCallingHandlers(tryCatch(f(), error = function(e) structure(list(msg = conditionMessage(e)), class = "err")),
                             warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (inherits(val, "err")) list(error = val$msg, warnings = arr(warns)) else list(value = val, warnings = arr(warns))
}
perf_json <- function(f) {
  r <- attempt(f)
  if (!is.null(r$error)) return(r)
  v <- r$value
  r$value <- if (is.null(v) || (length(v) == 1 && is.na(v))) NULL else lapply(unclass(v), function(x) num(x))
  r$is_na <- is.null(r$value)
  r
}

case <- function(id, r_call, r_call0, newdata, emm = NULL) {
  m <- suppressWarnings(eval(parse(text = r_call)))
  m0 <- suppressWarnings(eval(parse(text = r_call0)))
  a <- anova(m0, m)
  x <- list(id = id, r_call = r_call, r_call0 = r_call0,
            family = family(m)$family, link = family(m)$link,
            fixef = as.list(fixef(m)),
            display_text = text_of(arm::display(m)),
            se_fixef = as.list(arm::se.fixef(m)),
            anova = list(index = arr(rownames(a)), table = tab(as.data.frame(a)),
                         text = text_of(print(a))),
            newdata = tab(newdata))
  for (type in c("link", "response")) {
    x[[paste0("predict_", type)]] <- arr(predict(m, newdata = newdata, type = type))
    x[[paste0("predict_", type, "_nore")]] <- arr(predict(m, newdata = newdata, type = type, re.form = NA))
  }
  x$tidy <- tab(tidy(m))
  x$tidy_fixed <- tab(tidy(m, effects = "fixed", conf.int = TRUE))
  x$tidy_ran_pars <- tab(tidy(m, effects = "ran_pars"))
  x$glance <- tab(glance(m))
  au <- suppressWarnings(as.data.frame(augment(m)))
  x$augment_columns <- arr(names(au))
  num_cols <- names(au)[vapply(au, is.numeric, logical(1)) & grepl("^\\.", names(au))]
  x$augment_head <- tab(head(au[, num_cols, drop = FALSE], 10))
  x$icc <- perf_json(function() icc(m))
  x$r2 <- perf_json(function() r2(m))
  if (!is.null(emm)) {
    x$emmeans <- lapply(emm, function(type) {
      e <- if (is.null(type)) emmeans(m, "period") else emmeans(m, "period", type = type)
      s <- as.data.frame(summary(e))
      list(type = if (is.null(type)) "link" else type, table = tab(s),
           text = text_of(print(e)))
    })
  }
  x$versions <- versions
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null", pretty = TRUE),
             file.path(out_dir, paste0(id, ".json")))
  cat(id, "done\n")
}

nd_sleep <- data.frame(Days = c(0, 4.5, 9), Subject = factor(c("308", "335", "372"), levels = levels(sleepx$Subject)))
nd_fac <- data.frame(experience = c(1, 10, 25), department = unique(faculty$department)[1:3])
nd_cbpp <- data.frame(period = factor(c("1", "2", "4"), levels = levels(cbpp$period)),
                      herd = factor(c("1", "7", "15"), levels = levels(cbpp$herd)),
                      size = c(10, 20, 5), incidence = 0)
nd_nb <- data.frame(x = c(0.5, 2, 3.5), plot = factor(c("plot01", "plot05", "plot20"), levels = levels(nbsim$plot)))

case("gamma_log",
     'glmer(Reaction ~ Days + (1 | Subject), data = sleepx, family = Gamma(link = "log"))',
     'glmer(Reaction ~ 1 + (1 | Subject), data = sleepx, family = Gamma(link = "log"))', nd_sleep)
case("invgauss_log",
     'glmer(Reaction ~ Days + (1 | Subject), data = sleepx, family = inverse.gaussian(link = "log"))',
     'glmer(Reaction ~ 1 + (1 | Subject), data = sleepx, family = inverse.gaussian(link = "log"))', nd_sleep)
case("gauss_log",
     'glmer(salary ~ experience + (1 | department), data = faculty, family = gaussian(link = "log"))',
     'glmer(salary ~ 1 + (1 | department), data = faculty, family = gaussian(link = "log"))', nd_fac)
case("binomial_probit",
     'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial(link = "probit"))',
     'glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), data = cbpp, family = binomial(link = "probit"))',
     nd_cbpp, emm = list(NULL, "response"))
case("poisson_sqrt",
     'glmer(incidence ~ period + (1 | herd), data = cbpp, family = poisson(link = "sqrt"))',
     'glmer(incidence ~ 1 + (1 | herd), data = cbpp, family = poisson(link = "sqrt"))',
     nd_cbpp, emm = list(NULL, "response"))
case("nb",
     "glmer.nb(count ~ x + (1 | plot), data = nbsim)",
     "glmer.nb(count ~ 1 + (1 | plot), data = nbsim)", nd_nb)
