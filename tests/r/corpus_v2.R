corpus_v2 <- function(skip = character()) invisible(NULL)
