# R's printouts for notebooks/03-r-and-python-side-by-side.ipynb: each step of the faculty
# walk-through (the teaching module's m0, m1, m2, m3), lmerTest's Satterthwaite and
# Kenward-Roger tables for m3, lmList's no-pooling coefficients, and the models' AIC.
# Run from the repository root:  Rscript tests/r/notebook_refs.R
# Reads the faculty data R wrote for the core corpus (tests/r/refs/core/data/faculty.csv)
# and writes tests/r/refs/notebook/faculty_walkthrough.json:
#   {versions, data, steps: [{id, expr, text}], pvalues: {Satterthwaite, Kenward-Roger}}
# text is capture.output() of the printed value, joined with "\n"; the p-value tables are
# summary(m3, ddf = )$coefficients at full precision.  Never edit the JSON by hand.
suppressPackageStartupMessages({
  library(lme4); library(arm); library(jsonlite)  # lmerTest by namespace: lme4's lmer()
})
ddir <- "tests/r/refs/core/data"
out <- "tests/r/refs/notebook"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

faculty <- read.csv(file.path(ddir, "faculty.csv"), check.names = FALSE)
lv <- fromJSON(file.path(ddir, "faculty.levels.json"))
for (v in names(lv)) faculty[[v]] <- factor(as.character(faculty[[v]]), levels = lv[[v]])

m0 <- lm(salary ~ experience, data = faculty)
m1 <- lmer(salary ~ experience + (1 | department), data = faculty)
m2 <- lmer(salary ~ experience + (0 + experience | department), data = faculty)
m3 <- lmer(salary ~ experience + (1 + experience | department), data = faculty)
m3t <- lmerTest::as_lmerModLmerTest(m3)  # lmerTest's summary(m3, ddf = ) (pbkrtest for KR)

steps <- list(
  list("head", "head(faculty)", function() head(faculty)),
  list("m0_summary", "summary(m0)", function() summary(m0)),
  list("m1_summary", "summary(m1)", function() summary(m1)),
  list("m1_display", "display(m1)", function() display(m1)),
  list("m1_coef", "coef(m1)$department", function() coef(m1)$department),
  list("m1_se_ranef", "se.ranef(m1)$department", function() se.ranef(m1)$department),
  list("m2_summary", "summary(m2)", function() summary(m2)),
  list("m2_coef", "coef(m2)$department", function() coef(m2)$department),
  list("m3_summary", "summary(m3)", function() summary(m3)),
  list("m3_display", "display(m3)", function() display(m3)),
  list("m3_coef", "coef(m3)$department", function() coef(m3)$department),
  list("m3_varcorr", "VarCorr(m3)", function() VarCorr(m3)),
  list("lmlist_coef", "coef(lmList(salary ~ experience | department, data = faculty))",
       function() coef(lmList(salary ~ experience | department, data = faculty))),
  list("m3_satterthwaite", "summary(m3, ddf = \"Satterthwaite\")  # lmerTest",
       function() summary(m3t, ddf = "Satterthwaite")),
  list("m3_kenward_roger", "summary(m3, ddf = \"Kenward-Roger\")  # lmerTest",
       function() summary(m3t, ddf = "Kenward-Roger")),
  list("aic", "AIC(m1, m2, m3)", function() AIC(m1, m2, m3))
)
printed <- function(f) {
  v <- f()
  txt <- if (inherits(v, "NULL")) character() else capture.output(print(v))
  paste(txt, collapse = "\n")
}
# display() prints as it computes: capture what it prints, not the value
captured <- function(id, f) {
  if (grepl("display", id)) paste(capture.output(invisible(f())), collapse = "\n") else printed(f)
}
step_json <- lapply(steps, function(s) list(id = s[[1]], expr = s[[2]], text = captured(s[[1]], s[[3]])))

ptable <- function(ddf) {
  co <- summary(m3t, ddf = ddf)$coefficients
  list(terms = I(rownames(co)), columns = I(colnames(co)), data = unname(co))
}
versions <- list(R = as.character(getRversion()))
for (p in c("lme4", "arm", "lmerTest", "pbkrtest")) versions[[p]] <- as.character(packageVersion(p))
js <- list(versions = versions, data = "core/data/faculty.csv", steps = step_json,
           pvalues = list(Satterthwaite = ptable("Satterthwaite"),
                          `Kenward-Roger` = ptable("Kenward-Roger")))
writeLines(toJSON(js, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           file.path(out, "faculty_walkthrough.json"), useBytes = TRUE)
cat("wrote", file.path(out, "faculty_walkthrough.json"), "\n")
