# R's answers for mlm_wrap.toolbox.accessors / update / lmlist (tests/toolbox/).
#
#   Rscript tests/r/accessors_refs.R      (from the repository root)
#
# writes tests/r/refs/accessors/{getme_sleep,getme_sleep_ml,getme_penicillin,getme_cbpp,
# update_sleep,lmlist_sleep,allfit_sleep}.json.  Nothing there is typed by hand.  Numbers are
# written with digits = NA (full precision); NA and -Inf (getME "lower") as null; matrices
# as {dim, rownames, colnames, values (row-major)}; R arrays (confint, summary of lmList) as
# {dimnames, dim, values (R's column-major order)}; length-one vectors unboxed.  Versions of
# R, lme4, jsonlite are recorded in each file.  allFit runs every optimizer R has; mlm_wrap
# compares the three it has (bobyqa, Nelder_Mead, nloptwrap.NLOPT_LN_BOBYQA).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
out <- "tests/r/refs/accessors"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                 lme4 = as.character(packageVersion("lme4")),
                 jsonlite = as.character(packageVersion("jsonlite")))
dense <- function(M) { M <- as.matrix(M); list(dim = dim(M), rownames = rownames(M),
                      colnames = colnames(M), values = as.vector(t(M))) }
save <- function(x, name) write_json(c(list(versions = versions), x),
                                     file.path(out, paste0(name, ".json")),
                                     digits = NA, auto_unbox = TRUE, null = "null", na = "null")
getme_all <- function(m, data_name, formula) {
  dc <- getME(m, "devcomp")
  fl <- getME(m, "flist")
  list(data = data_name, formula = formula, class = class(m)[1],
       theta = list(values = unname(getME(m, "theta")), names = names(getME(m, "theta"))),
       beta = unname(getME(m, "beta")),
       X = dense(getME(m, "X")), Z = dense(getME(m, "Z")),
       Lambda = dense(getME(m, "Lambda")),
       u = as.vector(getME(m, "u")), b = as.vector(getME(m, "b")),
       flist = lapply(fl, function(f) list(levels = levels(f), codes = as.integer(f))),
       cnms = getME(m, "cnms"), lower = unname(getME(m, "lower")),
       n = getME(m, "n"), p = getME(m, "p"), q = getME(m, "q"),
       devcomp = list(cmp = as.list(dc$cmp), dims = as.list(dc$dims)),
       df_residual = df.residual(m), weights = unname(weights(m)),
       family = capture.output(print(family(m))),
       formula_text = paste(deparse(formula(m)), collapse = " "),
       terms = attr(terms(m), "term.labels"),
       model_matrix = dense(model.matrix(m)),
       model_matrix_random = dense(model.matrix(m, type = "random")))
}
data(sleepstudy, Penicillin, cbpp, package = "lme4")
m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
save(getme_all(m1, "sleepstudy", "Reaction ~ Days + (Days | Subject)"), "getme_sleep")
m1ml <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
save(getme_all(m1ml, "sleepstudy", "Reaction ~ Days + (Days | Subject)"), "getme_sleep_ml")
m2 <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
save(getme_all(m2, "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"), "getme_penicillin")
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
save(list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
          family = capture.output(print(family(g1))),
          theta = list(values = unname(getME(g1, "theta")), names = names(getME(g1, "theta"))),
          df_residual = df.residual(g1), weights = unname(weights(g1)),
          n = getME(g1, "n"), p = getME(g1, "p"), q = getME(g1, "q"),
          formula_text = paste(deparse(formula(g1)), collapse = " ")), "getme_cbpp")

# update variants
refit <- function(m) list(fixef = as.list(fixef(m)), logLik = as.numeric(logLik(m)),
                          formula = paste(deparse(formula(m)), collapse = " "),
                          REML = isREML(m), nobs = nobs(m))
sl <- sleepstudy; sl$w <- rep(c(1, 2, 3), length.out = nrow(sl))
sl$g2 <- factor(rep(1:6, length.out = nrow(sl)))
m3 <- lmer(Reaction ~ Days + (Days | Subject), sl)
ups <- list(
  "minus_Days" = list(call = list(formula = ". ~ . - Days"), fit = update(m3, . ~ . - Days)),
  "REML_FALSE" = list(call = list(REML = FALSE), fit = update(m3, REML = FALSE)),
  "log_lhs" = list(call = list(formula = "log(.) ~ ."), fit = update(m3, log(.) ~ .)),
  "plus_g2" = list(call = list(formula = ". ~ . + (1 | g2)"), fit = update(m3, . ~ . + (1 | g2))),
  "uncorrelated" = list(call = list(formula = ". ~ . - (Days | Subject) + (Days || Subject)"),
                        fit = update(m3, . ~ . - (Days | Subject) + (Days || Subject))),
  "plus_I_Days2" = list(call = list(formula = ". ~ . + I(Days^2)"), fit = update(m3, . ~ . + I(Days^2))),
  "weights_w" = list(call = list(weights = "w"), fit = update(m3, weights = w)),
  "subset_Days_gt_1" = list(call = list(subset = "Days > 1"), fit = update(m3, subset = Days > 1)))
save(list(data = "sleepstudy with w = rep(c(1, 2, 3)), g2 = factor(rep(1:6))",
          formula = "Reaction ~ Days + (Days | Subject)",
          updates = lapply(ups, function(u) c(list(call = u$call), refit(u$fit)))), "update_sleep")

# lmList
ll <- lmList(Reaction ~ Days | Subject, sleepstudy)
ci <- confint(ll)   # array levels x c("2.5 %", "97.5 %") x coefficients
s <- summary(ll)
cf <- coef(ll)
save(list(data = "sleepstudy", formula = "Reaction ~ Days | Subject",
          coef = list(index = rownames(cf), columns = colnames(cf), data = unname(as.matrix(cf))),
          confint = list(dimnames = dimnames(ci), dim = dim(ci), values = as.vector(ci)),
          pooled_sigma = s$RSE, df = s$df,
          summary_coefficients = list(dimnames = dimnames(s$coefficients), dim = dim(s$coefficients),
                                      values = as.vector(s$coefficients)),
          r_squared = unname(s$r.squared),
          lm_pooled = as.list(coef(lm(Reaction ~ Days, sleepstudy))),
          lmer_coef = list(index = rownames(coef(m1)$Subject), data = unname(as.matrix(coef(m1)$Subject)))),
     "lmlist_sleep")

# allFit's summary structure (optimizers mlm_wrap has), numbers per optimizer
af <- allFit(m1, verbose = FALSE)
sa <- summary(af)
save(list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)",
          summary_names = names(sa),
          optimizers = names(af),
          which_OK = as.list(sa$which.OK),
          fixef = list(index = rownames(sa$fixef), columns = colnames(sa$fixef),
                       data = unname(sa$fixef)),
          llik = as.list(sa$llik),
          sdcor = list(index = rownames(sa$sdcor), columns = colnames(sa$sdcor), data = unname(sa$sdcor)),
          theta = list(index = rownames(sa$theta), columns = colnames(sa$theta), data = unname(sa$theta)),
          msgs = lapply(sa$msgs, function(x) if (is.null(x)) character(0) else x)),
     "allfit_sleep")
cat("wrote", out, "\n")
