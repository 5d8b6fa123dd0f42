// Command infra is txpipe's AWS CDK app: one stack per environment suffix,
// synthesized with cdk synth (or go run . with CDK_OUTDIR set).
//
// The environment suffix comes from the CDK context (cdk synth -c env=prod),
// else from ENVIRONMENT_SUFFIX, else it is dev.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg := Config{
		Env:        contextOr(app, "env", os.Getenv("ENVIRONMENT_SUFFIX"), "dev"),
		CostCenter: contextOr(app, "costCenter", os.Getenv("COST_CENTER"), application),
		RepoRoot:   contextOr(app, "repoRoot", "", ".."),
	}
	if _, err := Build(app, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// contextOr returns the app's context value key, else the first non-empty
// fallback.
func contextOr(app awscdk.App, key string, fallbacks ...string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	for _, f := range fallbacks {
		if f != "" {
			return f
		}
	}
	return ""
}
