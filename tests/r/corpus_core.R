# The core corpus (tests/r/refs/core): lmer fits of lme4's data sets and the faculty
# data, three glmer fits of cbpp, and two anova(m1, m2) comparisons.
# Reconstructed from the shared reference corpus (/work/shared/r-reference/{cases,data}),
# which it reproduces: same fields, numbers and printouts.

corpus_core <- function(skip = character()) {
  write_data(lme4::sleepstudy, "sleepstudy")
  write_data(as.data.frame(lme4::Dyestuff), "Dyestuff")
  write_data(as.data.frame(lme4::Dyestuff2), "Dyestuff2")
  write_data(as.data.frame(lme4::Penicillin), "Penicillin")
  write_data(as.data.frame(lme4::Pastes), "Pastes")
  write_data(cbpp_data(), "cbpp")
  write_data(faculty_data(), "faculty")
  if (!"insteval_crossed" %in% skip) write_data(as.data.frame(lme4::InstEval), "InstEval")

  run_cases(style = "core", skip = skip, list(
    spec("sleepstudy_int", "sleepstudy", "Reaction ~ Days + (1 | Subject)", profile = TRUE),
    spec("sleepstudy_int_ml", "sleepstudy", "Reaction ~ Days + (1 | Subject)", REML = FALSE),
    spec("sleepstudy_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", profile = TRUE),
    spec("sleepstudy_slope_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", REML = FALSE),
    spec("sleepstudy_slope_only", "sleepstudy", "Reaction ~ Days + (0 + Days | Subject)"),
    spec("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)"),
    spec("dyestuff", "Dyestuff", "Yield ~ 1 + (1 | Batch)", profile = TRUE),
    spec("dyestuff2_singular", "Dyestuff2", "Yield ~ 1 + (1 | Batch)"),
    spec("faculty_m1", "faculty", "salary ~ experience + (1 | department)", profile = TRUE),
    spec("faculty_m2", "faculty", "salary ~ experience + (0 + experience | department)"),
    spec("faculty_m3", "faculty", "salary ~ experience + (1 + experience | department)"),
    spec("pastes_nested", "Pastes", "strength ~ 1 + (1 | batch/cask)"),
    spec("pastes_sample", "Pastes", "strength ~ 1 + (1 | batch) + (1 | sample)"),
    spec("penicillin_crossed", "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)",
         profile = TRUE),
    # 73421 rows: the slowest case (about 15 s for the fit); no lmerTest df, and fitted /
    # residuals for the first 50 rows only
    spec("insteval_crossed", "InstEval", "y ~ service + (1 | s) + (1 | d)", REML = FALSE,
         ddf = FALSE, fitted_rows = 1:50),
    # The core corpus records REML = true for its glmer fits (the maker's default; glmer
    # has no REML argument, and deviance / REMLcrit follow isREML(m), false for glmer).
    spec("cbpp_binomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
         fun = "glmer", family = "binomial"),
    spec("cbpp_binomial_agq", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
         fun = "glmer", family = "binomial", nAGQ = 9),
    spec("cbpp_binomial_weights", "cbpp", "prop ~ period + (1 | herd)",
         fun = "glmer", family = "binomial", weights = "size")
  ))

  make_anova_case("anova_sleepstudy", "sleepstudy",
                  c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"))
  make_anova_case("anova_faculty", "faculty",
                  c("salary ~ experience + (1 | department)",
                    "salary ~ experience + (1 + experience | department)"))
}
