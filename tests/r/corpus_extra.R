# The project's own corpus (tests/r/refs/extra): lmer cases for what the shared corpus does
# not cover (missing values, factor interactions, integer and odd group labels, crossed
# random slopes, ...) and glmer cases (Poisson, offsets, quadrature, nAGQ = 0, probit,
# observation-level random effects, a singular fit).  Formerly make_extra_refs.R and
# make_glmm_refs.R.
#
# lmer cases use the core corpus's fields ("core" style).  glmer cases ("glmm" style) add, as
# in the core corpus's glmer cases: `deviance` is deviance(m) (the sum of squared deviance
# residuals), `logLik` is -opt$fval/2, `fitted` is on the response scale and the predictions
# are on the link scale; plus pearson_residuals, theta, optinfo_derivs, R's messages, the
# summary's coefficient table, predict_response and devfun_checks.  `family` is the text given
# to glmer(family = ...), which mlm_wrap.glmer() accepts as is.

extra_lmer_data <- function() {
  ss <- lme4::sleepstudy                                   # Reaction, Days, Subject (factor)
  write_data(ss, "sleepstudy")

  # nlme's Orthodont as a plain data.frame; Subject unordered, levels kept as they are
  O <- nlme::Orthodont
  write_data(data.frame(distance = O$distance, age = O$age,
                        Subject = factor(as.character(O$Subject), levels = levels(O$Subject)),
                        Sex = factor(as.character(O$Sex), levels = levels(O$Sex))),
             "Orthodont")

  # sleepstudy with missing values
  sm <- ss
  sm$Reaction[c(3, 50, 77, 121)] <- NA
  sm$Days[160] <- NA
  write_data(sm, "sleepstudy_missing")

  write_data(as.data.frame(lme4::Pastes), "Pastes")
  write_data(cbpp_data(), "cbpp")                         # with the proportion as a column

  # simulated crossed design: 30 subjects x 20 items, correlated subject slope
  set.seed(42)
  n_s <- 30; n_i <- 20; rho <- 0.3
  z1 <- rnorm(n_s); z2 <- rnorm(n_s)
  u0 <- 1.0 * z1                                           # subject intercepts, sd 1
  u1 <- 0.5 * (rho * z1 + sqrt(1 - rho^2) * z2)            # subject slopes, sd 0.5, corr 0.3
  w0 <- rnorm(n_i, sd = 0.7)                               # item intercepts
  g <- expand.grid(item = seq_len(n_i), subject = seq_len(n_s))   # subject-major order
  x <- rnorm(nrow(g))
  y <- 1 + 0.5 * x + u0[g$subject] + u1[g$subject] * x + w0[g$item] + rnorm(nrow(g), sd = 1)
  write_data(data.frame(subject = factor(sprintf("s%02d", g$subject), levels = sprintf("s%02d", 1:n_s)),
                        item = factor(sprintf("i%02d", g$item), levels = sprintf("i%02d", 1:n_i)),
                        x = x, y = y),
             "crossed_slope")

  write_data(as.data.frame(lme4::Dyestuff), "Dyestuff")

  # sleepstudy with a two-level character column turned factor (sorted levels)
  sg <- ss
  sg$grp <- factor(ifelse(as.integer(sg$Subject) %% 2 == 0, "even", "odd"))
  write_data(sg, "sleepstudy_grp")

  # sleepstudy with Subject as a plain integer column (no factor in levels.json)
  si <- ss
  si$Subject <- as.integer(as.character(si$Subject))
  write_data(si, "sleepstudy_intsubj")

  # unbalanced groups (three subjects with a single observation, one with three), a logical
  # predictor, and level labels with spaces, dashes and colons, kept as a character column
  # (lmer makes it a factor with sorted levels)
  su <- ss[!(ss$Subject %in% c("308", "309", "310") & ss$Days > 0), ]
  su <- su[!(su$Subject == "330" & su$Days > 2), ]
  su$late <- su$Days > 4
  su$Subject <- paste0("subj - ", as.character(su$Subject), ":x")
  rownames(su) <- NULL
  write_data(su, "sleepstudy_unbal")
}

extra_lmer_cases <- function() {
  d <- sleepstudy_missing
  complete <- which(complete.cases(d[, c("Reaction", "Days", "Subject")]))
  # first complete rows, plus the rows right after each missing value
  prow <- c(complete[1:5], 51, 78, 122, 161)
  stopifnot(all(prow %in% complete))
  list(
    spec("orthodont_sex", "Orthodont", "distance ~ age * Sex + (age | Subject)", profile = TRUE),
    # lme4's default nloptwrap stops 6e-6 short of the REML optimum on Orthodont (a flat
    # likelihood); bobyqa, Nelder_Mead and optim all reach it.  The same model with bobyqa:
    spec("orthodont_sex_bobyqa", "Orthodont", "distance ~ age * Sex + (age | Subject)",
         control = 'lmerControl(optimizer = "bobyqa")'),
    spec("sleep_log_poly", "sleepstudy", "log(Reaction) ~ Days + I(Days^2) + (1 | Subject)",
         profile = TRUE),
    spec("sleep_missing", "sleepstudy_missing", "Reaction ~ Days + (Days | Subject)",
         predict_rows = prow,
         extra = list(
           fitted_data_rows = arr(complete),
           na_rows = arr(which(!complete.cases(d))),
           note = paste("na.omit: fitted/residuals are for the kept rows only;",
                        "fitted_rows are positions within fitted(m), fitted_data_rows",
                        "the 1-based data rows they belong to (names(fitted(m)))"))),
    spec("pastes_colon", "Pastes", "strength ~ 1 + (1 | batch:cask)"),
    spec("cbpp_lmm_factor", "cbpp", "prop ~ period + (1 | herd)"),
    spec("crossed_slope", "crossed_slope", "y ~ x + (1 + x | subject) + (1 | item)"),
    spec("dyestuff_ml", "Dyestuff", "Yield ~ 1 + (1 | Batch)", REML = FALSE, profile = TRUE),
    spec("sleep_factor_int", "sleepstudy_grp", "Reaction ~ Days * grp + (1 | Subject)"),
    spec("sleep_nocept", "sleepstudy", "Reaction ~ 0 + Days + (1 | Subject)"),
    spec("sleep_unbal_bool", "sleepstudy_unbal", "Reaction ~ Days + late + (1 | Subject)"),
    spec("sleep_int_subject_as_int", "sleepstudy_intsubj", "Reaction ~ Days + (1 | Subject)")
  )
}

extra_glmm_data <- function() {
  # lme4's grouseticks: Poisson counts, two grouping factors (BROOD nested in LOCATION)
  gt <- lme4::grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
  gt$INDEX <- as.integer(as.character(gt$INDEX))
  write_data(gt, "glmm_grouseticks")

  # simulated 0/1 response on a crossed design: 60 subjects x 40 items, a subject slope
  set.seed(20240611)
  ns <- 60; ni <- 40
  g <- expand.grid(item = seq_len(ni), subject = seq_len(ns))
  s0 <- rnorm(ns, sd = 0.9); s1 <- rnorm(ns, sd = 0.5); i0 <- rnorm(ni, sd = 0.6)
  x <- round(rnorm(nrow(g)), 3)
  cond <- factor(ifelse(g$item %% 2 == 0, "treat", "ctrl"), levels = c("ctrl", "treat"))
  eta <- -0.3 + 0.8 * x + 0.5 * (cond == "treat") + s0[g$subject] + s1[g$subject] * x + i0[g$item]
  y <- rbinom(nrow(g), 1, plogis(eta))
  write_data(data.frame(subject = factor(sprintf("s%02d", g$subject), levels = sprintf("s%02d", 1:ns)),
                        item = factor(sprintf("i%02d", g$item), levels = sprintf("i%02d", 1:ni)),
                        x = x, cond = cond, y = y),
             "glmm_binary")

  # simulated counts with an exposure offset in the formula
  set.seed(7)
  nsite <- 25
  site <- factor(sprintf("site%02d", rep(seq_len(nsite), each = 12)), levels = sprintf("site%02d", 1:nsite))
  trt <- factor(rep(c("A", "B", "C"), length.out = length(site)), levels = c("A", "B", "C"))
  exposure <- round(runif(length(site), 0.5, 4), 2)
  u <- rnorm(nsite, sd = 0.4)
  lam <- exposure * exp(0.2 + c(0, 0.4, -0.3)[as.integer(trt)] + u[as.integer(site)])
  write_data(data.frame(site = site, trt = trt, exposure = exposure, count = rpois(length(site), lam)),
             "glmm_counts")

  # lme4's cbpp, under this corpus's own name
  write_data(as.data.frame(lme4::cbpp), "glmm_cbpp")

  # 0/1 data whose groups carry no variance: the first seed from 11 on for which lme4 lands
  # on the boundary
  for (seed in 11:200) {
    set.seed(seed)
    sg <- data.frame(g = factor(sprintf("g%d", rep(1:8, each = 25))), x = round(rnorm(200), 3))
    sg$y <- rbinom(200, 1, plogis(-0.2 + 0.7 * sg$x))
    if (suppressMessages(isSingular(glmer(y ~ x + (1 | g), data = sg, family = binomial)))) break
  }
  write_data(sg, "glmm_singular")
  seed
}

extra_glmm_cases <- function(singular_seed) {
  g <- function(...) spec(fun = "glmer", REML = FALSE, ...)
  cbpp_f <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
  list(
    g("glmm_grouseticks", "glmm_grouseticks",
      "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", family = "poisson",
      predict_rows = c(1, 2, 50, 200, 403)),
    # observation-level random effect (one level per row: glmer's allow.n) and nesting
    g("glmm_grouseticks_olre", "glmm_grouseticks",
      "TICKS ~ YEAR + (1 | INDEX) + (1 | LOCATION/BROOD)", family = "poisson",
      predict_rows = c(1, 2, 50, 200, 403)),
    g("glmm_binary_crossed", "glmm_binary", "y ~ x + cond + (1 + x | subject) + (1 | item)",
      family = "binomial", predict_rows = c(1, 2, 41, 1000, 2400)),
    g("glmm_poisson_offset", "glmm_counts", "count ~ trt + offset(log(exposure)) + (1 | site)",
      family = "poisson", predict_rows = c(1, 2, 3, 150, 300)),
    g("glmm_cbpp_probit", "glmm_cbpp", cbpp_f, family = "binomial(link = \"probit\")"),
    # nAGQ = 0 (lme4's first stage alone; vcov from RX, no Hessian) and adaptive
    # Gauss-Hermite quadrature with an offset
    g("glmm_cbpp_nagq0", "glmm_cbpp", cbpp_f, family = "binomial", nAGQ = 0),
    g("glmm_poisson_offset_agq", "glmm_counts", "count ~ trt + offset(log(exposure)) + (1 | site)",
      family = "poisson", nAGQ = 5, predict_rows = c(1, 2, 3, 150, 300)),
    g("glmm_singular", "glmm_singular", "y ~ x + (1 | g)", family = "binomial",
      extra = list(seed = singular_seed))
  )
}

corpus_extra <- function(skip = character()) {
  extra_lmer_data()
  run_cases(extra_lmer_cases(), style = "core", skip = skip)
  if (!"sleep_missing" %in% skip)
    stopifnot(jsonlite::fromJSON(out_path("cases", "sleep_missing.json"))$nobs == 175)
  singular_seed <- extra_glmm_data()
  run_cases(extra_glmm_cases(singular_seed), style = "glmm", skip = skip)
}
