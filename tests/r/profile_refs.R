# R references for profile-likelihood intervals whose limits sit at a boundary of the
# parameter space (a correlation of -1/1, an sd of 0): confint(m, method = "profile",
# oldNames = FALSE), lme4's profile.merMod + confint.thpr.  Writes the data as CSV too.
# Run from the repository root:  Rscript tests/r/profile_refs.R
suppressPackageStartupMessages({ library(lme4); library(nlme); library(jsonlite) })
out_dir <- "tests/r/refs/profile"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- list(R = as.character(getRversion()),
                 lme4 = as.character(packageVersion("lme4")),
                 nlme = as.character(packageVersion("nlme")))
orth <- as.data.frame(nlme::Orthodont)
orth <- data.frame(distance = orth$distance, age = orth$age,
                   Subject = as.character(orth$Subject), Sex = as.character(orth$Sex))
write.csv(orth, file.path(out_dir, "orthodont.csv"), row.names = FALSE)
sl <- subset(sleepstudy, Subject %in% c("308", "309", "310", "330", "331", "332"))
sl$Subject <- as.character(sl$Subject)
write.csv(sl, file.path(out_dir, "sleep6.csv"), row.names = FALSE)
dy <- data.frame(Yield = Dyestuff2$Yield, Batch = as.character(Dyestuff2$Batch))
write.csv(dy, file.path(out_dir, "dyestuff2.csv"), row.names = FALSE)
cases <- list(
  list(id = "orth_reml", data = "orthodont.csv", d = orth, REML = TRUE,
       formula = "distance ~ age + (age | Subject)"),
  list(id = "orth_ml", data = "orthodont.csv", d = orth, REML = FALSE,
       formula = "distance ~ age + (age | Subject)"),
  list(id = "sleep6", data = "sleep6.csv", d = sl, REML = TRUE,
       formula = "Reaction ~ Days + (Days | Subject)"),
  list(id = "dyestuff2", data = "dyestuff2.csv", d = dy, REML = TRUE,
       formula = "Yield ~ 1 + (1 | Batch)"))
for (cs in cases) {
  m <- lmer(as.formula(cs$formula), data = cs$d, REML = cs$REML)
  t0 <- proc.time()[["elapsed"]]
  ci <- suppressWarnings(confint(m, method = "profile", oldNames = FALSE))
  el <- proc.time()[["elapsed"]] - t0
  x <- list(id = cs$id, data = cs$data, formula = cs$formula, REML = cs$REML,
            rows = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
            columns = colnames(ci), theta = unname(getME(m, "theta")),
            deviance = unname(deviance(m)), seconds = el, versions = versions)
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
             file.path(out_dir, paste0(cs$id, ".json")))
  cat(cs$id, "\n"); print(ci, digits = 10)
}
