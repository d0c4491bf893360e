# R references for messy data (issue #17): what lme4 fits on the data each messy input
# stands for.  Read by tests/spec/test_bad_data.py.
# Run from the repository root:  Rscript tests/r/baddata_refs.R
#   mixed_groups: a grouping column of mixed types, as R's factor(as.character(x)) sees it
#                 (1, 1.0 and "1" are one level "1"; TRUE/FALSE are "TRUE"/"FALSE"; NA missing)
#   na_exclude:   rows with NA (the Python test gives them duplicated row labels), na.exclude
#   pairs:        (1 | a:b) where a:b pairs collide as joined strings ("x:y"+"z", "x"+"y:z"):
#                 lme4 merges them (its interaction labels are joined strings); the reference
#                 is the fit with one level per distinct (a, b) pair, which mlm_wrap fits
#   x_1e100:      a predictor scaled by 1e100 (lme4 fits it, warning about scales)
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out_dir <- "tests/r/refs/baddata"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")))

set.seed(17)
n <- 120; g <- rep(0:11, each = 10)
x <- round(rnorm(n), 6)
y <- round(1 + 2 * x + rnorm(12)[g + 1] + rnorm(n), 6)
base <- data.frame(y = y, x = x, gi = g)
write.csv(base, file.path(out_dir, "base.csv"), row.names = FALSE, na = "")

record <- function(id, m, extra = list()) {
  vc <- as.data.frame(VarCorr(m))
  x <- c(list(id = id, fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")),
              sigma = sigma(m), logLik = as.numeric(logLik(m)), nobs = nobs(m),
              ngrps = as.list(ngrps(m)), varcorr_vcov = vc$vcov,
              fitted = unname(fitted(m)),
              summary_text = paste(capture.output(print(summary(m))), collapse = "\n"),
              versions = versions), extra)
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
             file.path(out_dir, paste0(id, ".json")))
  cat(id, "done\n")
}

# mixed types: the Python column holds, for groups 0..11,
#   1 (int), "a", 2.5, True, None, 0, False, "b", 1.0, NaN, 3, "1"
chars <- c("1", "a", "2.5", "TRUE", NA, "0", "FALSE", "b", "1", NA, "3", "1")
d <- base; d$g <- factor(chars[d$gi + 1])
m <- lmer(y ~ x + (1 | g), data = d)
record("mixed_groups", m, list(levels = levels(d$g), ranef = unname(ranef(m)$g[, 1])))

# NA rows (positions 6, 36, 51, 78 of y; 12 of x), na.exclude
d <- base; d$g <- factor(sprintf("g%02d", d$gi))
d$y[c(6, 36, 51, 78)] <- NA; d$x[12] <- NA
m <- lmer(y ~ x + (1 | g), data = d, na.action = na.exclude)
record("na_exclude", m, list(fitted_excl = unname(fitted(m)), resid_excl = unname(residuals(m)),
                             na_positions = which(is.na(fitted(m)))))

# (1 | a:b) with colliding joined labels: the fit with one level per distinct pair
a <- c("x:y", "x", "x:y", "x", "p", "p:q")[(base$gi %% 6) + 1]
b <- c("z", "y:z", "w", "y:w", "q:r", "r")[(base$gi %% 6) + 1]
d <- base; d$y <- d$y + c(5, -5, 2, -2, 4, -4)[(base$gi %% 6) + 1]
d$ab <- factor(paste(a, b, sep = "\r"))
m <- lmer(y ~ x + (1 | ab), data = d)
record("pairs", m, list(ranef = unname(ranef(m)$ab[, 1]),
                        pair_a = sub("\r.*", "", levels(d$ab)),
                        pair_b = sub(".*\r", "", levels(d$ab))))

# a predictor scaled by 1e100
d <- base; d$g <- factor(sprintf("g%02d", d$gi)); d$x <- d$x * 1e100
m <- suppressWarnings(lmer(y ~ x + (1 | g), data = d))
record("x_1e100", m)
