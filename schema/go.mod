module meridian.dev/schema

go 1.26
