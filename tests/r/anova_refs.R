# R references for mlm_wrap.inference.terms_anova / ranova beyond the shared tb_* cases:
# lmerTest's anova(m, type = 1 | 2 | 3) with Satterthwaite's and Kenward-Roger's df, lme4's
# anova(m), lmerTest's plain drop1(m) (F table), lme4's drop1(m, test = "Chisq") and
# lmerTest's ranova(m), for a factor with 3+ levels interacting with a covariate and models
# with two random terms / a random slope.
# Run from the repository root:  Rscript tests/r/anova_refs.R
# Writes tests/r/refs/anova/<id>.json: {id, data, data_dir, formula, versions, calls: [...]},
# each call {name, call, kwargs, table: {index, columns, data}, text}; numbers at full
# precision (digits = NA), NA as null, printouts via capture.output.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
out <- "tests/r/refs/anova"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
load_data <- function(ddir, name) {
  df <- read.csv(file.path(ddir, paste0(name, ".csv")), check.names = FALSE)
  lv <- fromJSON(file.path(ddir, paste0(name, ".levels.json")))
  for (v in names(lv)) df[[v]] <- factor(as.character(df[[v]]), levels = lv[[v]])
  df
}
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")),
                 pbkrtest = as.character(packageVersion("pbkrtest")))
num <- function(x) { x <- as.numeric(x); ifelse(is.finite(x), x, NA) }
table_of <- function(s) {
  s <- as.data.frame(s)
  list(index = I(rownames(s)), columns = I(names(s)),
       data = unname(lapply(seq_len(nrow(s)), function(i) unname(lapply(names(s), function(c) num(s[i, c]))))))
}
one <- function(name, call, kwargs, res)
  list(name = name, call = call, kwargs = kwargs, table = table_of(res),
       text = paste(capture.output(print(res)), collapse = "\n"))
write_case <- function(id, ddir, data, formula) {
  df <- load_data(ddir, data)
  m <- lmerTest::lmer(as.formula(formula), data = df)
  calls <- list(
    one("anova type 1", "anova", list(type = 1), anova(m, type = 1)),
    one("anova type 2", "anova", list(type = 2), anova(m, type = 2)),
    one("anova type 3", "anova", list(type = 3), anova(m, type = 3)),
    one("anova type 1 KR", "anova", list(type = 1, ddf = "Kenward-Roger"),
        anova(m, type = 1, ddf = "Kenward-Roger")),
    one("anova type 3 KR", "anova", list(type = 3, ddf = "Kenward-Roger"),
        anova(m, type = 3, ddf = "Kenward-Roger")),
    one("anova lme4", "anova", list(ddf = "lme4"), anova(m, ddf = "lme4")),
    one("drop1 F", "drop1", setNames(list(), character(0)), drop1(m)),
    one("drop1 Chisq", "drop1", list(test = "Chisq"), lme4:::drop1.merMod(m, test = "Chisq")),
    one("ranova", "ranova", setNames(list(), character(0)), ranova(m)))
  js <- list(id = id, data = paste0(data, ".csv"), data_dir = ddir, formula = formula,
             versions = versions, calls = calls)
  writeLines(toJSON(js, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
             file.path(out, paste0(id, ".json")))
}
write_case("oats_nitro", "tests/r/refs/v2/data", "Oats",
           "yield ~ nitro * Variety + (1 | Block) + (1 | Block:Variety)")
write_case("chick", "tests/r/refs/idioms/data", "ChickWeight",
           "weight ~ Time * Diet + (1 + Time | Chick)")
write_case("crossed", "tests/r/refs/extra/data", "crossed_slope",
           "y ~ x + (x | subject) + (1 | item)")
write_case("sleep_uncorr", "tests/r/refs/v2/data", "sleepstudy",
           "Reaction ~ 0 + Days + (Days || Subject)")
