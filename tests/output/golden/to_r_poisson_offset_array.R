# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).
library(lme4)
library(arm)

pois <- read.csv("poisson_offset_array.csv", check.names = FALSE, stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")
pois[["site"]] <- factor(as.character(pois[["site"]]), levels = c("s0", "s1", "s10", "s11", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"))

m <- glmer(count ~ x + (1 | site), data = pois, family = poisson, offset = .offset)

print(summary(m))
display(m)
print(coef(m))
print(logLik(m))
