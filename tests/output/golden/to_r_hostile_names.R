# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).
library(lme4)
library(arm)

`my data` <- read.csv("d ir/it's \"q\" \u00e9\\x/data file.csv", check.names = FALSE, stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")
`my data`[["\u00e9\u540d"]] <- factor(as.character(`my data`[["\u00e9\u540d"]]), levels = c("g\u00e9 1", "g\"2", "g\\3", "g'4", "g 5", "g.6"))

m <- lmer(`y y` ~ `my var` + `it's` + a.b + (1 | é名), data = `my data`)

print(summary(m))
display(m)
print(coef(m))
print(logLik(m))
