#!/usr/bin/env Rscript
# The one entry point for the R reference files under tests/r/refs/ (core, v2, extra, idioms).
#
#   Rscript tests/r/make_refs.R                  # regenerate every file under tests/r/refs/
#   Rscript tests/r/make_refs.R --check          # regenerate into a temporary directory and
#                                                # compare with the committed files (exit 1
#                                                # on any difference; tests/r/compare_refs.py)
#   Rscript tests/r/make_refs.R --only core|v2|extra|idioms   (comma-separated; both modes)
#   Rscript tests/r/make_refs.R --skip insteval_crossed  (case ids, comma-separated: not
#                                                # refitted; their committed files are kept
#                                                # and not compared)
#   --keep   keep the temporary tree (printed) after --check
#
# Run from anywhere.  Needs R with lme4, arm, lmerTest, pbkrtest, emmeans, broom.mixed,
# performance, nlme, MASS, jsonlite, and for the idioms corpus mlmRev and splines (the
# versions are written to every case JSON and to tests/r/refs/VERSIONS.json) and python3
# for --check.
#
# Layout: common.R (JSON/CSV writers, the per-field computations shared by all corpora,
# the case writer), corpus_core.R, corpus_v2.R, corpus_extra.R, corpus_idioms.R (data sets
# and case specs; idioms: model.matrix references of R's formula language and published
# lmer models).
# Every corpus is written into a fresh directory and then replaces tests/r/refs/<corpus>,
# so files of removed cases do not linger.
#
# Everything is reproduced from R: the data sets come from R packages or from seeded R code
# (faculty: set.seed(999); nbsim: set.seed(2026); ...).  A few numbers are not reproducible
# by R itself from one process to the next (two glmer fits with flat likelihoods and one
# profile interval); compare_refs.py lists them (UNSTABLE) and compares them more loosely.

script_path <- function() {
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(a)) return(normalizePath(sub("^--file=", "", a[1])))
  normalizePath("tests/r/make_refs.R")
}
HERE <- dirname(script_path())
REFS <- file.path(HERE, "refs")
CORPORA <- c("core", "v2", "extra", "idioms")

arg_value <- function(args, flag) {
  i <- which(args == flag)
  eq <- grep(paste0("^", flag, "="), args, value = TRUE)
  if (length(eq)) return(sub(paste0("^", flag, "="), "", eq[1]))
  if (length(i) && i[1] < length(args)) return(args[i[1] + 1])
  NULL
}
split_list <- function(x) if (is.null(x)) character() else strsplit(x, ",", fixed = TRUE)[[1]]

args <- commandArgs(TRUE)
if (any(args %in% c("-h", "--help"))) {
  h <- readLines(script_path(), n = 40)[-1]
  h <- h[seq_len(which(!grepl("^#", h))[1] - 1)]
  cat(sub("^# ?", "", h), sep = "\n")
  quit(status = 0)
}
CHECK <- "--check" %in% args
KEEP <- "--keep" %in% args
ONLY <- split_list(arg_value(args, "--only"))
if (!length(ONLY)) ONLY <- CORPORA
if (!all(ONLY %in% CORPORA)) stop("--only takes ", paste(CORPORA, collapse = ", "))
ONLY <- CORPORA[CORPORA %in% ONLY]
SKIP <- split_list(arg_value(args, "--skip"))

source(file.path(HERE, "common.R"))
for (cp in CORPORA) source(file.path(HERE, paste0("corpus_", cp, ".R")))

# outside R's session tempdir, which R deletes on exit (--keep must outlive the session)
TMP <- file.path(dirname(tempdir()), basename(tempfile("mlm_wrap_refs_")))
dir.create(TMP)
t_all <- proc.time()[["elapsed"]]
for (cp in ONLY) {
  OUT <- file.path(TMP, cp)
  dir.create(file.path(OUT, "cases"), recursive = TRUE)
  dir.create(file.path(OUT, "data"))
  cat(sprintf("== %s\n", cp))
  t0 <- proc.time()[["elapsed"]]
  get(paste0("corpus_", cp))(skip = SKIP)
  cat(sprintf("== %s: %d cases in %.1fs\n", cp, length(list.files(file.path(OUT, "cases"))),
              proc.time()[["elapsed"]] - t0))
}
vers <- c(versions_list(), list(R.version.string = R.version.string),
          lapply(c(Matrix = "Matrix", nlme = "nlme", MASS = "MASS", jsonlite = "jsonlite",
                   mlmRev = "mlmRev"),
                 function(p) as.character(packageVersion(p))))
OUT <- TMP
write_json_file(vers, file.path(TMP, "VERSIONS.json"))
cat(sprintf("regenerated %s in %.1fs\n", paste(ONLY, collapse = ", "),
            proc.time()[["elapsed"]] - t_all))

# The committed files of skipped cases (and their data) are kept as they are.
keep_skipped <- function(cp) {
  for (id in SKIP) {
    f <- file.path(REFS, cp, "cases", paste0(id, ".json"))
    if (!file.exists(f)) next
    file.copy(f, file.path(TMP, cp, "cases"))
    data <- jsonlite::fromJSON(f)$data
    stem <- sub("\\.csv$", "", data)
    for (g in file.path(REFS, cp, "data", c(data, paste0(stem, c(".levels.json", ".ordered.json")))))
      if (file.exists(g) && !file.exists(file.path(TMP, cp, "data", basename(g))))
        file.copy(g, file.path(TMP, cp, "data"))
  }
}

if (CHECK) {
  py <- Sys.which(c("python3", "python"))
  py <- py[nzchar(py)][1]
  if (is.na(py)) stop("--check needs python3 (tests/r/compare_refs.py)")
  status <- system2(py, c(shQuote(file.path(HERE, "compare_refs.py")), shQuote(TMP),
                          shQuote(REFS), "--only", paste(ONLY, collapse = ","),
                          if (length(SKIP)) c("--skip-case", paste(SKIP, collapse = ","))))
  if (KEEP) cat("regenerated tree kept in", TMP, "\n") else unlink(TMP, recursive = TRUE)
  quit(status = status)
} else {
  for (cp in ONLY) {
    keep_skipped(cp)
    unlink(file.path(REFS, cp), recursive = TRUE)
    dir.create(REFS, showWarnings = FALSE)
    file.copy(file.path(TMP, cp), REFS, recursive = TRUE)
  }
  file.copy(file.path(TMP, "VERSIONS.json"), file.path(REFS, "VERSIONS.json"), overwrite = TRUE)
  unlink(TMP, recursive = TRUE)
  cat("wrote", paste(file.path(REFS, ONLY), collapse = ", "), "and", file.path(REFS, "VERSIONS.json"), "\n")
}
