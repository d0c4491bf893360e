# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).
library(lme4)
library(arm)

sleep <- read.csv("sleep_every_argument.csv", check.names = FALSE, stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")
sleep[["Subject"]] <- factor(as.character(sleep[["Subject"]]), levels = c("308", "309", "310", "330", "331", "332", "333", "334", "335", "337", "349", "350", "351", "352", "369", "370", "371", "372"))
sleep[["phase"]] <- factor(as.character(sleep[["phase"]]), levels = c("late", "early"))

m <- lmer(Reaction ~ Days + phase + (Days | Subject), data = sleep, REML = FALSE, weights = w, subset = Days != 2, na.action = na.exclude, contrasts = list(phase = "contr.sum"), control = lmerControl(optimizer = "bobyqa"))

print(summary(m))
display(m)
print(coef(m))
print(logLik(m))
