# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).
library(lme4)
library(arm)

faculty <- read.csv("faculty_m3.csv", check.names = FALSE, stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")
faculty[["department"]] <- factor(as.character(faculty[["department"]]), levels = c("biology", "english", "informatics", "sociology", "statistics"))

m <- lmer(salary ~ experience + (1 + experience | department), data = faculty)

print(summary(m))
display(m)
print(coef(m))
print(logLik(m))
