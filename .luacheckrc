std = "luajit"
max_line_length = 130
files["spec/**/*_spec.lua"] = { std = "+busted" }
files["spec/*.lua"] = { std = "+busted" }
