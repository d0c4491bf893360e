# The v2 corpus (tests/r/refs/v2): fam_* (other families and links, glmer.nb, lmer weights
# and offsets), idiom_* (R formula idioms) and tb_* (the post-fit toolbox: lmerTest anova
# types, ranova, drop1, update, influence measures, broom.mixed, performance, emmeans,
# lmList; see /work/shared/r-reference/TOOLBOX.md).  Reconstructed from the shared corpus
# (/work/shared/r-reference/v2), which it reproduces.

suppressPackageStartupMessages(library(splines))      # ns() in idiom_ns's formula

# ---------------------------------------------------------------- data
# The v2 corpus's fits used the data as read back from its CSV files (it matters for
# faculty: its salaries have more than 15 significant digits, and the flat REML surface of
# tb_faculty moves theta by 5e-5 with them), hence reload = TRUE.
v2_data <- function() {
  write_data <- function(df, name) get("write_data", globalenv())(df, name, reload = TRUE)
  write_data(lme4::sleepstudy, "sleepstudy")
  write_data(cbpp_data(), "cbpp")
  write_data(faculty_data(), "faculty")

  # sleepstudy with prior weights w (1, 1.5, 2, 2.5 by subject), an offset `prior`
  # (240 + 4 * Days) and dotted copies of the response and of Days
  sx <- lme4::sleepstudy
  sx$w <- 1 + 0.5 * (as.integer(sx$Subject) %% 4)
  sx$prior <- 240 + 4 * sx$Days
  sx$Reaction.time <- sx$Reaction
  sx$Days.n <- sx$Days
  write_data(sx, "sleepx")

  # negative-binomial counts: 40 plots x 10, x ~ U(0, 3) to 2 decimals, plot effects
  # N(0, 0.6^2), log mu = 0.8 + 0.5 x + u, theta 2.5 (set.seed(2026))
  set.seed(2026)
  x <- round(runif(400, 0, 3), 2)
  plot <- rep(1:40, each = 10)
  u <- rnorm(40, sd = 0.6)
  count <- rnbinom(400, size = 2.5, mu = exp(0.8 + 0.5 * x + u[plot]))
  write_data(data.frame(count = count, x = x,
                        plot = factor(sprintf("plot%02d", plot), levels = sprintf("plot%02d", 1:40))),
             "nbsim")

  # nlme's Oats as a plain data.frame: Block unordered (levels I..VI), N = nitro as a factor
  O <- as.data.frame(nlme::Oats)
  O$Block <- factor(as.character(O$Block))
  O$Variety <- factor(as.character(O$Variety))
  O$N <- factor(O$nitro)
  write_data(O, "Oats")
}

# ---------------------------------------------------------------- fam_* and idiom_*
v2_model_cases <- function() {
  g <- function(...) spec(fun = "glmer", REML = FALSE, ...)
  list(
    g("fam_cbpp_pois_sqrt", "cbpp", "incidence ~ period + (1 | herd)",
      family = "poisson(link = \"sqrt\")"),
    g("fam_cbpp_probit", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
      family = "binomial(link = \"probit\")"),
    g("fam_faculty_gauss_log", "faculty", "salary ~ experience + (1 | department)",
      family = "gaussian(link = \"log\")"),
    spec("fam_nb", "nbsim", "count ~ x + (1 | plot)", fun = "glmer.nb", REML = FALSE),
    g("fam_sleep_gamma_log", "sleepx", "Reaction ~ Days + (1 | Subject)",
      family = "Gamma(link = \"log\")"),
    g("fam_sleep_invgauss_log", "sleepx", "Reaction ~ Days + (1 | Subject)",
      family = "inverse.gaussian(link = \"log\")"),
    spec("fam_sleep_offset_arg", "sleepx", "Reaction ~ Days + (1 | Subject)", offset = "prior"),
    spec("fam_sleep_offset_term", "sleepx", "Reaction ~ Days + offset(prior) + (1 | Subject)"),
    spec("fam_sleep_weights", "sleepx", "Reaction ~ Days + (Days | Subject)", weights = "w"),
    spec("idiom_center", "sleepx", "Reaction ~ scale(Days, scale = FALSE) + (1 | Subject)"),
    spec("idiom_dotted_sqrt", "sleepx", "Reaction.time ~ sqrt(Days.n) + (1 | Subject)"),
    spec("idiom_factor", "sleepx", "Reaction ~ factor(Days) + (1 | Subject)"),
    spec("idiom_ns", "sleepx", "Reaction ~ ns(Days, df = 3) + (1 | Subject)"),
    spec("idiom_poly", "sleepx", "Reaction ~ poly(Days, 2) + (Days | Subject)"),
    spec("idiom_polyraw_logical", "sleepx",
         "Reaction ~ poly(Days, 2, raw = TRUE) + I(Days > 4) + (1 | Subject)"),
    # the first five rows of the subset are data rows 3..7
    spec("idiom_subset", "sleepx", "Reaction ~ Days + (Days | Subject)", subset = "Days >= 2",
         predict_rows = 3:7)
  )
}

# ---------------------------------------------------------------- tb_*: the toolbox
# Each check records the Python call toolbox.py makes (call, args, kwargs) and R's answer.
obj <- function(x = list()) if (length(x)) x else setNames(list(), character())  # JSON {}
key_json <- function(k) if (is.null(k) || length(k) == 1) k else arr(k)

# a data.frame (numeric columns = `cols`) as a table indexed by its key columns joined by "|"
df_table <- function(df, keys, cols = NULL) {
  df <- as.data.frame(df)
  if (is.null(cols)) cols <- setdiff(names(df)[vapply(df, is.numeric, logical(1))], keys)
  m <- as.matrix(df[, cols, drop = FALSE])
  rownames(m) <- do.call(paste, c(lapply(df[keys], as.character), sep = "|"))
  table_json(m)
}

chk_table <- function(name, call, table, args = character(), kwargs = obj(), of = NULL,
                      key = NULL, text = NULL)
  list(name = name, type = "table", call = call, args = arr(args), kwargs = kwargs, of = of,
       key = key_json(key), table = table, text = text)

chk_vector <- function(name, call, v, rows, args = character(), kwargs = obj(), names = TRUE)
  list(name = name, type = "vector", call = call, args = arr(args), kwargs = kwargs,
       rows = arr(rows), values = arr(v[rows]), names = if (names) arr(names(v)[rows]) else NULL)

chk_values <- function(name, call, values, kwargs = obj())
  list(name = name, type = "values", call = call, args = arr(character()), kwargs = kwargs,
       values = values)

chk_refit <- function(name, m2, args = character(), kwargs = obj())
  list(name = name, type = "refit", call = "update", args = arr(args), kwargs = kwargs,
       fixef = named(fixef(m2)), logLik = as.numeric(logLik(m2)))

print_text <- function(x) text_of(function() print(x))

# rows at which vectors are recorded: 1..6 and four more spread to the last row
tb_rows <- function(n) unique(c(1:6, round(seq(6, n, length.out = 5))))

toolbox_checks <- function(m, s, drop_term = NULL, emm = NULL, lmlist = NULL) {
  is_lmer <- s$fun == "lmer"
  rows <- tb_rows(nobs(m))
  q <- function(expr) suppressWarnings(suppressMessages(expr))
  ch <- list()
  add <- function(...) ch[[length(ch) + 1]] <<- list(...)[[1]]

  if (is_lmer) {
    mt <- lmerTest::as_lmerModLmerTest(m)
    for (k in 1:3) {
      a <- anova(mt, type = k, ddf = "Satterthwaite")
      add(chk_table(sprintf("anova type %d Satterthwaite", k), "anova", table_json(a),
                    kwargs = list(type = k, ddf = "Satterthwaite"),
                    text = if (k == 3) print_text(a)))
    }
    add(chk_table("anova type 3 Kenward-Roger", "anova",
                  table_json(anova(mt, type = 3, ddf = "Kenward-Roger")),
                  kwargs = list(type = 3, ddf = "Kenward-Roger")))
    add(chk_table("anova lme4", "anova", table_json(anova(mt, ddf = "lme4")),
                  kwargs = list(ddf = "lme4")))
    r <- q(lmerTest::ranova(mt))
    add(chk_table("ranova", "ranova", table_json(r), text = print_text(r)))
  } else {
    add(chk_table("anova lme4", "anova", table_json(anova(m))))
  }
  add(chk_table("drop1 Chisq", "drop1", table_json(q(drop1(m, test = "Chisq"))),
                kwargs = list(test = "Chisq")))
  if (is_lmer) {
    add(chk_vector("residuals scaled", "residuals", residuals(m, scaled = TRUE), rows,
                   kwargs = list(scaled = TRUE)))
    add(chk_refit("update REML=FALSE", q(update(m, REML = FALSE)), kwargs = list(REML = FALSE)))
  } else {
    for (t in c("response", "pearson", "deviance", "working"))
      add(chk_vector(paste("residuals", t), "residuals", residuals(m, type = t), rows,
                     kwargs = list(type = t)))
  }
  if (!is.null(drop_term)) {
    f <- paste(". ~ . -", drop_term)
    add(chk_refit(paste("update", f), q(update(m, as.formula(f))), args = f))
  }
  add(chk_vector("hatvalues", "hatvalues", q(hatvalues(m)), rows))
  add(chk_vector("cooks_distance", "cooks_distance", q(cooks.distance(m)), rows))
  th <- getME(m, "theta")
  add(chk_vector("getME theta", "getME", th, seq_along(th), args = "theta"))
  mm <- model.matrix(m)
  add(c(chk_table("model_matrix", "model_matrix", table_json(mm[rows, , drop = FALSE])),
        list(rows = arr(rows))))
  td <- broom.mixed::tidy(m, effects = "fixed", conf.int = TRUE)
  add(chk_table("tidy fixed", "tidy", df_table(td, "term"),
                kwargs = list(effects = "fixed", conf_int = TRUE), key = "term"))
  tr <- broom.mixed::tidy(m, effects = "ran_pars")
  add(chk_table("tidy ran_pars", "tidy", df_table(tr, c("group", "term")),
                kwargs = list(effects = "ran_pars"), key = c("group", "term")))
  gl <- as.data.frame(broom.mixed::glance(m))
  add(chk_values("glance", "glance", as.list(gl[vapply(gl, is.numeric, logical(1))])))
  au <- q(broom.mixed::augment(m))
  for (col in c(".fitted", ".resid", ".hat", ".cooksd", ".fixed", ".mu"))
    add(chk_vector(paste("augment", col), "augment", au[[col]], rows, args = col, names = FALSE))
  ic <- q(performance::icc(m))
  add(chk_values("icc", "icc", list(ICC_adjusted = ic$ICC_adjusted,
                                    ICC_unadjusted = ic$ICC_unadjusted)))
  r2 <- q(performance::r2_nakagawa(m))
  add(chk_values("r2", "r2", list(R2_conditional = unname(r2$R2_conditional),
                                  R2_marginal = unname(r2$R2_marginal))))
  if (!is.null(emm)) {
    by <- emm$by
    kw <- if (is.null(by)) obj() else list(by = by)
    e <- emmeans::emmeans(m, emm$spec, by = by)
    add(chk_table("emmeans", "emmeans", df_table(summary(e), c(emm$spec, by)), args = emm$spec,
                  kwargs = kw, key = c(emm$spec, by), text = print_text(e)))
    p <- pairs(e)
    add(chk_table("pairs", "pairs", df_table(summary(p), c("contrast", by)),
                  of = list(call = "emmeans", args = arr(emm$spec), kwargs = kw),
                  key = c("contrast", by), text = print_text(p)))
    if (is_lmer) {
      es <- emmeans::emmeans(m, emm$spec, by = by, lmer.df = "satterthwaite")
      add(chk_table("emmeans satterthwaite", "emmeans", df_table(summary(es), c(emm$spec, by)),
                    args = emm$spec, kwargs = c(kw, list(lmer_df = "satterthwaite")),
                    key = c(emm$spec, by)))
    } else {
      er <- emmeans::emmeans(m, emm$spec, by = by, type = "response")
      add(chk_table("emmeans response", "emmeans", df_table(summary(er), c(emm$spec, by)),
                    args = emm$spec, kwargs = c(kw, list(type = "response")),
                    key = c(emm$spec, by)))
    }
  }
  if (!is.null(lmlist)) {
    d <- get(s$data, envir = globalenv())
    cf <- coef(lme4::lmList(as.formula(lmlist), data = d))
    add(list(name = "lmList coef", type = "table", call = "lmList", target = "data",
             args = arr(lmlist), kwargs = obj(), then = "coef", key = NULL,
             table = table_json(cf), text = NULL))
  }
  ch
}

make_toolbox_case <- function(s, ...) {
  r_call <- r_call_of(s)
  m <- eval_logged(r_call)$value
  out <- list(id = s$id, kind = "toolbox", data = paste0(s$data, ".csv"), fun = s$fun,
              formula = s$formula, family = s$family, REML = s$REML, r_call = r_call,
              r_version = R.version.string, versions = versions_list(),
              checks = toolbox_checks(m, s, ...))
  write_case(out, s$id)
  cat(sprintf("  %-28s %d checks\n", s$id, length(out$checks)))
}

v2_toolbox_cases <- function(skip) {
  tb <- function(s, ...) if (s$id %in% skip) cat(sprintf("  %-28s skipped\n", s$id)) else
    make_toolbox_case(s, ...)
  tb(spec("tb_sleep", "sleepstudy", "Reaction ~ Days + (Days | Subject)"),
     drop_term = "Days", lmlist = "Reaction ~ Days | Subject")
  tb(spec("tb_faculty", "faculty", "salary ~ experience + (1 + experience | department)"),
     lmlist = "salary ~ experience | department")
  tb(spec("tb_oats", "Oats", "yield ~ N * Variety + (1 | Block/Variety)"),
     drop_term = "N:Variety", emm = list(spec = "N"))
  tb(spec("tb_oats_by", "Oats", "yield ~ N * Variety + (1 | Block) + (1 | Block:Variety)"),
     emm = list(spec = "N", by = "Variety"))
  tb(spec("tb_cbpp", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
          fun = "glmer", REML = FALSE, family = "binomial"),
     emm = list(spec = "period"))
  tb(spec("tb_cbpp_pois", "cbpp", "incidence ~ period + (1 | herd)",
          fun = "glmer", REML = FALSE, family = "poisson"),
     drop_term = "period", emm = list(spec = "period"))
}

corpus_v2 <- function(skip = character()) {
  v2_data()
  run_cases(v2_model_cases(), style = "v2", skip = skip)
  v2_toolbox_cases(skip)
}
