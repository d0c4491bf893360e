# R references for mlm_wrap.toolbox.emmeans beyond the shared tb_* cases:
# at=, trt.vs.ctrl / poly contrasts, bonferroni / holm / none adjustments,
# lmer.df = "satterthwaite" / "asymptotic", a two-factor `by`, a numeric covariate.
# Run from the repository root:  Rscript tests/r/emmeans_refs.R
# Writes tests/r/refs/emmeans/<id>.json: {id, data, fun, formula, family, calls: [...]},
# each call {name, emmeans: kwargs, contrast: kwargs or null, key, table, text};
# numbers at full precision (digits = NA), Inf / NA as null, printouts via capture.output.
suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)})
emm_options(opt.digits = TRUE)
ddir <- "tests/r/refs/v2/data"
out <- "tests/r/refs/emmeans"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
load_data <- function(name) {
  df <- read.csv(file.path(ddir, paste0(name, ".csv")), check.names = FALSE)
  lv <- fromJSON(file.path(ddir, paste0(name, ".levels.json")))
  for (v in names(lv)) df[[v]] <- factor(as.character(df[[v]]), levels = lv[[v]])
  df
}
versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                 emmeans = as.character(packageVersion("emmeans")),
                 pbkrtest = as.character(packageVersion("pbkrtest")),
                 lmerTest = as.character(packageVersion("lmerTest")))
num <- function(x) { x <- as.numeric(x); ifelse(is.finite(x), x, NA) }
table_of <- function(s, keys) {
  s <- as.data.frame(s)
  idx <- do.call(paste, c(lapply(keys, function(k) as.character(s[[k]])), sep = "|"))
  cols <- setdiff(names(s), keys)
  list(index = idx, columns = cols,
       data = unname(lapply(seq_len(nrow(s)), function(i) unname(lapply(cols, function(c) num(s[i, c]))))))
}
one <- function(name, m, ekw, ckw = NULL) {
  e <- do.call(emmeans, c(list(m), ekw))
  spec <- ekw$specs; by <- ekw$by
  if (is.null(ckw)) {
    res <- e; keys <- c(spec, by)
  } else {
    res <- do.call(contrast, c(list(e), ckw)); keys <- c("contrast", by)
  }
  s <- summary(res)
  list(name = name, emmeans = ekw, contrast = ckw, key = keys, table = table_of(s, keys),
       text = paste(capture.output(print(res)), collapse = "\n"))
}
write_case <- function(id, data, fun, formula, family, calls) {
  df <- load_data(data)
  m <- if (fun == "lmer") lmer(as.formula(formula), data = df) else
    glmer(as.formula(formula), data = df, family = family)
  res <- lapply(calls, function(cl) do.call(one, c(list(cl$name, m, cl$e), if (!is.null(cl$c)) list(cl$c))))
  js <- list(id = id, data = paste0(data, ".csv"), fun = fun, formula = formula,
             family = if (is.null(family)) NULL else family, versions = versions, calls = res)
  writeLines(toJSON(js, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
             file.path(out, paste0(id, ".json")))
}
C <- function(name, e, c = NULL) list(name = name, e = e, c = c)
write_case("oats", "Oats", "lmer", "yield ~ N * Variety + (1 | Block/Variety)", NULL, list(
  C("variety", list(specs = "Variety")),
  C("satterthwaite", list(specs = "N", lmer.df = "satterthwaite")),
  C("asymptotic", list(specs = "N", lmer.df = "asymptotic")),
  C("level90", list(specs = "N", level = 0.9)),
  C("two specs", list(specs = c("N", "Variety"))),
  C("pairs two specs", list(specs = c("N", "Variety")), list(method = "pairwise")),
  C("trt.vs.ctrl bonferroni", list(specs = "N"), list(method = "trt.vs.ctrl", adjust = "bonferroni")),
  C("poly", list(specs = "N"), list(method = "poly")),
  C("pairs bonferroni", list(specs = "N"), list(method = "pairwise", adjust = "bonferroni")),
  C("pairs holm", list(specs = "N"), list(method = "pairwise", adjust = "holm")),
  C("pairs none", list(specs = "N"), list(method = "pairwise", adjust = "none")),
  C("pairs satterthwaite", list(specs = "N", lmer.df = "satterthwaite"), list(method = "pairwise")),
  C("pairs asymptotic", list(specs = "N", lmer.df = "asymptotic"), list(method = "pairwise")),
  C("variety pairs", list(specs = "Variety"), list(method = "pairwise"))
))
write_case("oats_nitro", "Oats", "lmer", "yield ~ nitro + Variety + (1 | Block)", NULL, list(
  C("covariate mean", list(specs = "Variety")),
  C("at", list(specs = "Variety", at = list(nitro = 0.3))),
  C("at spec", list(specs = "nitro", at = list(nitro = c(0, 0.3, 0.6)))),
  C("at by", list(specs = "Variety", by = "nitro", at = list(nitro = c(0, 0.6)))),
  C("pairs at by", list(specs = "Variety", by = "nitro", at = list(nitro = c(0, 0.6))), list(method = "pairwise"))
))
write_case("oats_by2", "Oats", "lmer", "yield ~ N * Variety + Block + (1 | Block:Variety)", NULL, list(
  C("by two", list(specs = "N", by = c("Variety", "Block"))),
  C("pairs by two holm", list(specs = "Variety", by = c("N", "Block")), list(method = "pairwise", adjust = "holm"))
))
write_case("cbpp", "cbpp", "glmer", "cbind(incidence, size - incidence) ~ period + size + (1 | herd)", "binomial", list(
  C("covariate", list(specs = "period")),
  C("at response", list(specs = "period", at = list(size = 10), type = "response")),
  C("trt.vs.ctrl none", list(specs = "period"), list(method = "trt.vs.ctrl", adjust = "none")),
  C("pairs bonferroni", list(specs = "period"), list(method = "pairwise", adjust = "bonferroni"))
))
cat("wrote", length(list.files(out)), "files to", out, "\n")
