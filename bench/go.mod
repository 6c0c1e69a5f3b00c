module meridian.dev/bench

go 1.26.0

require (
	meridian.dev/gateway v0.0.0
	meridian.dev/platform v0.0.0
	meridian.dev/schema v0.0.0
	meridian.dev/worker v0.0.0
	meridian.dev/workflows v0.0.0
)

replace (
	meridian.dev/gateway => ../services/gateway
	meridian.dev/platform => ../services/platform
	meridian.dev/schema => ../schema
	meridian.dev/worker => ../services/worker
	meridian.dev/workflows => ../workflows
)
