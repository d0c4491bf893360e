# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).
library(lme4)
library(arm)

cbpp <- read.csv("cbpp_probit_agq.csv", check.names = FALSE, stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")
cbpp[["herd"]] <- factor(as.character(cbpp[["herd"]]), levels = c("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"))
cbpp[["period"]] <- factor(as.character(cbpp[["period"]]), levels = c("1", "2", "3", "4"))

m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial(link = "probit"), nAGQ = 5)

print(summary(m))
display(m)
print(coef(m))
print(logLik(m))
