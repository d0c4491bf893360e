# R references for mlm_wrap.toolbox.broom / diagnostics / performance beyond the shared
# tb_* cases: broom.mixed's tidy() for ran_vals, ran_coefs, the default effects, profile
# and boot intervals (boot: only the shape and a loose check, RNGs differ), augment() with
# newdata, hatvalues() / cooks.distance() of whole fits (lmer and glmer).
# Run from the repository root:  Rscript tests/r/broom_refs.R
suppressPackageStartupMessages({
  library(lme4); library(broom.mixed); library(jsonlite)
})
out_dir <- "tests/r/refs/broom"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()),
                 lme4 = as.character(packageVersion("lme4")),
                 broom.mixed = as.character(packageVersion("broom.mixed")),
                 performance = as.character(packageVersion("performance")))
tab <- function(d) {
  d <- as.data.frame(d, stringsAsFactors = FALSE)
  list(columns = names(d), data = lapply(d, function(col) if (is.factor(col)) as.character(col) else col))
}
save <- function(id, x) {
  x$id <- id; x$versions <- versions
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
             file.path(out_dir, paste0(id, ".json")))
}

m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
nd <- data.frame(Days = c(0, 3.5, 9), Subject = factor(c("308", "335", "372")))
set.seed(101)
save("sleep", list(
  data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE,
  tidy_default = tab(tidy(m)),
  tidy_ran_vals = tab(tidy(m, effects = "ran_vals", conf.int = TRUE)),
  tidy_ran_coefs = tab(tidy(m, effects = "ran_coefs")),
  tidy_fixed_profile = tab(tidy(m, effects = "fixed", conf.int = TRUE, conf.method = "profile")),
  tidy_ran_pars_profile = tab(tidy(m, effects = "ran_pars", conf.int = TRUE, conf.method = "profile")),
  tidy_fixed_boot = tab(suppressMessages(tidy(m, effects = "fixed", conf.int = TRUE,
                                              conf.method = "boot", nsim = 200))),
  tidy_fixed_90 = tab(tidy(m, effects = "fixed", conf.int = TRUE, conf.level = 0.9)),
  augment_newdata = list(newdata = tab(nd), fitted = unname(predict(m, newdata = nd)),
                         columns = names(augment(m, newdata = nd))),
  augment_columns = names(augment(m)),
  augment_head = tab(head(as.data.frame(augment(m))[, -(1:3)], 10)),
  hatvalues = unname(hatvalues(m)), cooks = unname(cooks.distance(m)),
  glance = as.list(glance(m))))

g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
save("cbpp", list(
  data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
  family = "binomial",
  tidy_default = tab(tidy(g)),
  tidy_ran_vals = tab(tidy(g, effects = "ran_vals")),
  hatvalues = unname(suppressWarnings(hatvalues(g))),
  cooks = unname(suppressWarnings(cooks.distance(g))),
  augment_columns = names(augment(g)),
  augment_head = tab(suppressWarnings(head(as.data.frame(augment(g))[, -(1:3)], 10)))))

gp <- glmer(incidence ~ period + (1 | herd), cbpp, family = poisson)
save("cbpp_pois", list(
  data = "cbpp", formula = "incidence ~ period + (1 | herd)", family = "poisson",
  hatvalues = unname(suppressWarnings(hatvalues(gp))),
  cooks = unname(suppressWarnings(cooks.distance(gp))),
  augment_columns = names(suppressWarnings(augment(gp))),
  augment_head = tab(suppressWarnings(head(as.data.frame(augment(gp))[, -(1:3)], 10)))))

# influence.merMod, leave-one-group-out (lmer)
infl <- function(mod, groups, data) {
  inf <- influence(mod, groups = groups, data = data)
  g <- inf$groups
  list(groups = groups, deleted = as.character(inf$deleted),
       fixed.effects = as.list(inf$fixed.effects),
       fixed.1 = tab(cbind(deleted = rownames(inf[[2]]), as.data.frame(inf[[2]], check.names = FALSE))),
       var.cov.comps = as.list(inf$var.cov.comps),
       vc.1 = tab(cbind(deleted = rownames(inf[[4]]), as.data.frame(inf[[4]], check.names = FALSE))),
       names = names(inf),
       vcov.1.first = tab(as.data.frame(as.matrix(inf[[6]][[1]]), check.names = FALSE)))
}
O <- as.data.frame(nlme::Oats)  # as tests/r/corpus_v2.R's Oats.csv
O$Block <- factor(as.character(O$Block))
O$Variety <- factor(as.character(O$Variety))
O$N <- factor(O$nitro)
mo <- lmer(yield ~ N + (1 | Block/Variety), O)
save("influence", list(
  sleep_subject = infl(m, "Subject", sleepstudy),
  oats_block = infl(mo, "Block", O)))

# hatvalues / cooks.distance with prior weights (lmer)
sw <- sleepstudy; sw$w <- rep(c(1, 2, 0.5), length.out = nrow(sw))
mw <- lmer(Reaction ~ Days + (Days | Subject), sw, weights = w)
save("sleep_weights", list(
  data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", weights = "rep(c(1, 2, 0.5))",
  hatvalues = unname(hatvalues(mw)), cooks = unname(cooks.distance(mw)),
  augment_head = tab(head(as.data.frame(augment(mw))[, -(1:4)], 10))))
